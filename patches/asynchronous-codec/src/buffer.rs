//! The buffer rule of this crate: a buffer exists only while it holds
//! bytes. Reading and writing share it, so it lives in one place.

use bytes::BytesMut;

/// How much is read from the underlying reader at a time.
pub(crate) const READ_CHUNK: usize = 8 * 1024;

/// Frees `buffer`'s allocation once it holds no bytes.
///
/// A `BytesMut` keeps its capacity after its bytes are taken (a decoded
/// frame split off, written bytes advanced past), so an idle stream would
/// otherwise hold its largest burst for as long as it lives.
pub(crate) fn release_if_empty(buffer: &mut BytesMut) {
    if buffer.is_empty() && buffer.capacity() > 0 {
        *buffer = BytesMut::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_buffer_gives_its_memory_back() {
        let mut buffer = BytesMut::with_capacity(4096);
        buffer.extend_from_slice(b"frame");
        let _frame = buffer.split_to(5);
        assert!(buffer.capacity() > 0, "split_to keeps the tail's capacity");
        release_if_empty(&mut buffer);
        assert_eq!(buffer.capacity(), 0);
    }

    #[test]
    fn a_buffer_with_bytes_is_kept() {
        let mut buffer = BytesMut::with_capacity(64);
        buffer.extend_from_slice(b"half a fra");
        release_if_empty(&mut buffer);
        assert_eq!(&buffer[..], b"half a fra");
        assert!(buffer.capacity() >= 10);
    }
}
