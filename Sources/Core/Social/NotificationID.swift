/// Local notification ids (spec §7.8): hex(SHA-256(kind ‖ actor ‖ target_post_id ‖ post_id)), with no
/// separators and "" for absent parts, so the same event always dedups to the same row.
public enum NotificationID {
    public static func make(kind: String, actor: String, targetPostID: String?, postID: String?) -> String {
        Hex.encode(SHA256.hash(kind + actor + (targetPostID ?? "") + (postID ?? "")))
    }
}
