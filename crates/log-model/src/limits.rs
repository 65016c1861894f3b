/// Size limits applied to every incoming log. The defaults are generous for
/// application logs and small enough that one bad shipper cannot hurt the
/// store (tantivy drops terms over 64 KiB; Elasticsearch refuses documents
/// over `http.max_content_length`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `message`, in bytes.
    pub max_message_bytes: usize,
    /// Largest `metadata` object, in bytes of its JSON encoding.
    pub max_metadata_bytes: usize,
    /// Deepest nesting of objects and arrays in `metadata` (the object itself is depth 1).
    pub max_metadata_depth: usize,
    /// Largest `source` and `service`, in bytes.
    pub max_name_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 32 * 1024,
            max_metadata_bytes: 16 * 1024,
            max_metadata_depth: 8,
            max_name_bytes: 256,
        }
    }
}
