// COpusShim: libopus's encoder/decoder CTLs are variadic macros, which Swift cannot call.
// Each helper here wraps exactly one CTL; the return value is libopus's error code (OPUS_OK = 0).
#ifndef COPUS_SHIM_H
#define COPUS_SHIM_H

#include <opus.h>

int copus_encoder_set_bitrate(OpusEncoder *enc, opus_int32 bitsPerSecond);
int copus_encoder_get_bitrate(OpusEncoder *enc, opus_int32 *bitsPerSecond);
int copus_encoder_set_inband_fec(OpusEncoder *enc, int enabled);
int copus_encoder_get_inband_fec(OpusEncoder *enc, opus_int32 *enabled);
int copus_encoder_set_packet_loss_perc(OpusEncoder *enc, int percent);
int copus_encoder_get_packet_loss_perc(OpusEncoder *enc, opus_int32 *percent);
int copus_encoder_set_complexity(OpusEncoder *enc, int complexity);
int copus_encoder_get_lookahead(OpusEncoder *enc, opus_int32 *samples);
int copus_encoder_set_dtx(OpusEncoder *enc, int enabled);
int copus_encoder_set_signal(OpusEncoder *enc, int signal);
int copus_encoder_reset_state(OpusEncoder *enc);
int copus_decoder_get_last_packet_duration(OpusDecoder *dec, opus_int32 *samples);
int copus_decoder_reset_state(OpusDecoder *dec);

#endif
