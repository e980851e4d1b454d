#include "copus_shim.h"

int copus_encoder_set_bitrate(OpusEncoder *enc, opus_int32 bitsPerSecond) { return opus_encoder_ctl(enc, OPUS_SET_BITRATE(bitsPerSecond)); }
int copus_encoder_get_bitrate(OpusEncoder *enc, opus_int32 *bitsPerSecond) { return opus_encoder_ctl(enc, OPUS_GET_BITRATE(bitsPerSecond)); }
int copus_encoder_set_inband_fec(OpusEncoder *enc, int enabled) { return opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(enabled)); }
int copus_encoder_get_inband_fec(OpusEncoder *enc, opus_int32 *enabled) { return opus_encoder_ctl(enc, OPUS_GET_INBAND_FEC(enabled)); }
int copus_encoder_set_packet_loss_perc(OpusEncoder *enc, int percent) { return opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(percent)); }
int copus_encoder_get_packet_loss_perc(OpusEncoder *enc, opus_int32 *percent) { return opus_encoder_ctl(enc, OPUS_GET_PACKET_LOSS_PERC(percent)); }
int copus_encoder_set_complexity(OpusEncoder *enc, int complexity) { return opus_encoder_ctl(enc, OPUS_SET_COMPLEXITY(complexity)); }
int copus_encoder_get_lookahead(OpusEncoder *enc, opus_int32 *samples) { return opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(samples)); }
int copus_encoder_set_dtx(OpusEncoder *enc, int enabled) { return opus_encoder_ctl(enc, OPUS_SET_DTX(enabled)); }
int copus_encoder_set_signal(OpusEncoder *enc, int signal) { return opus_encoder_ctl(enc, OPUS_SET_SIGNAL(signal)); }
int copus_encoder_reset_state(OpusEncoder *enc) { return opus_encoder_ctl(enc, OPUS_RESET_STATE); }
int copus_decoder_get_last_packet_duration(OpusDecoder *dec, opus_int32 *samples) { return opus_decoder_ctl(dec, OPUS_GET_LAST_PACKET_DURATION(samples)); }
int copus_decoder_reset_state(OpusDecoder *dec) { return opus_decoder_ctl(dec, OPUS_RESET_STATE); }
