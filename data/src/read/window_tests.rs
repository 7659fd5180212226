use std::io::Write as _;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use super::*;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

/// A window over `bytes` whose last `footer` bytes are held up front.
fn window(bytes: &[u8], capacity: usize, footer: usize) -> Window {
    let offset = bytes.len() - footer;
    Window::new(
        bytes.len() as u64,
        capacity,
        Footer {
            offset: offset as u64,
            bytes: bytes[offset..].to_vec(),
        },
    )
}

/// Copies `bytes` into the window in `step`-byte buffers on a thread,
/// writing each to `spill` first (if any), then ends the copy.
fn copy(
    w: &Arc<Window>,
    bytes: Vec<u8>,
    step: usize,
    mut spill: Option<File>,
) -> std::thread::JoinHandle<()> {
    let w = w.clone();
    std::thread::spawn(move || {
        for part in bytes.chunks(step) {
            if let Some(f) = &mut spill {
                f.write_all(part).unwrap();
            }
            w.feed(part);
        }
        w.end(Ok(()));
    })
}

#[test]
fn a_reader_in_order_reads_every_byte_from_memory_while_the_copy_waits_for_it() {
    let bytes = data(200_000);
    // No spill file: a byte that had left the window could not be read,
    // so this passes only if the copy waited for the reader.
    let w = Arc::new(window(&bytes, 16_384, 100));
    let copier = copy(&w, bytes.clone(), 1_000, None);
    let mut out = vec![0u8; bytes.len()];
    for (i, part) in out.chunks_mut(4_000).enumerate() {
        w.read_exact_at(part, (i * 4_000) as u64).unwrap();
    }
    copier.join().unwrap();
    assert_eq!(out, bytes);
    assert!(w.intact());
}

#[test]
fn bytes_that_left_the_window_are_read_back_from_the_copys_output() {
    let bytes = data(100_000);
    let spill = tempfile::tempfile().unwrap();
    let w = Arc::new(window(&bytes, 8_192, 10));
    w.spill_to(spill.try_clone().unwrap());
    let copier = copy(&w, bytes.clone(), 1_000, Some(spill));
    // The end first (past the window), then the start, long gone.
    let mut end = vec![0u8; 500];
    w.read_exact_at(&mut end, 99_000).unwrap();
    assert_eq!(end, bytes[99_000..99_500]);
    copier.join().unwrap();
    let mut start = vec![0u8; 20_000];
    w.read_exact_at(&mut start, 5).unwrap();
    assert_eq!(start, bytes[5..20_005]);
    assert!(w.intact());
}

#[test]
fn the_footer_is_read_before_the_copy_starts() {
    let bytes = data(10_000);
    let w = Arc::new(window(&bytes, 1_024, 64));
    let (tx, rx) = mpsc::channel();
    let reader = w.clone();
    std::thread::spawn(move || {
        let mut tail = [0u8; 64];
        let r = reader.read_exact_at(&mut tail, 10_000 - 64).map(|()| tail);
        let _ = tx.send(r);
    });
    let tail = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the footer read waited for the copy")
        .unwrap();
    assert_eq!(tail[..], bytes[10_000 - 64..]);
}

#[test]
fn a_footer_that_changed_before_the_copy_reached_it_fails_the_check() {
    let bytes = data(10_000);
    let w = Arc::new(window(&bytes, 1_024, 64));
    let mut changed = bytes.clone();
    changed[9_990] ^= 1;
    w.reader_done();
    copy(&w, changed, 700, None).join().unwrap();
    assert!(!w.intact());
}

#[test]
fn a_file_shorter_than_stated_fails_the_reader_and_the_check() {
    let bytes = data(10_000);
    let w = Arc::new(window(&bytes, 1_024, 0));
    let copier = copy(&w, bytes[..6_000].to_vec(), 700, None);
    let mut buf = [0u8; 100];
    let err = w.read_exact_at(&mut buf, 7_000).unwrap_err();
    assert!(err.to_string().contains("changed"), "{err}");
    copier.join().unwrap();
    assert!(!w.intact());
    // Past the stated length is an error without waiting.
    assert!(w.read_exact_at(&mut buf, 9_950).is_err());
}

#[test]
fn a_failed_copy_fails_a_waiting_reader() {
    let bytes = data(10_000);
    let w = Arc::new(window(&bytes, 1_024, 0));
    let copier = {
        let w = w.clone();
        std::thread::spawn(move || {
            w.feed(&[0u8; 100]);
            w.end(Err("disk full".into()));
        })
    };
    let mut buf = [0u8; 100];
    let err = w.read_exact_at(&mut buf, 5_000).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    copier.join().unwrap();
    assert!(!w.intact());
}

#[test]
fn a_reader_that_stopped_never_holds_the_copy_back() {
    let bytes = data(100_000);
    let w = Arc::new(window(&bytes, 1_024, 0));
    w.reader_done();
    // Far more than the window holds, with nobody reading: returns.
    copy(&w, bytes, 1_000, None).join().unwrap();
    assert!(w.intact());
}

fn file_with(bytes: &[u8]) -> File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f
}

#[test]
fn the_footer_span_follows_each_formats_trailer() {
    // Parquet: u32 length then PAR1.
    let mut p = data(1_000);
    p.extend_from_slice(&200u32.to_le_bytes());
    p.extend_from_slice(b"PAR1");
    let f = file_with(&p);
    assert_eq!(
        footer_span(&f, p.len() as u64, &Format::Parquet, 1 << 20).unwrap(),
        Some((p.len() as u64 - 208, 208))
    );
    // Over the limit: only the trailer is held.
    assert_eq!(
        footer_span(&f, p.len() as u64, &Format::Parquet, 100).unwrap(),
        Some((p.len() as u64 - 8, 8))
    );
    // Arrow: i32 length then ARROW1.
    let mut a = data(1_000);
    a.extend_from_slice(&300i32.to_le_bytes());
    a.extend_from_slice(b"ARROW1");
    let f = file_with(&a);
    assert_eq!(
        footer_span(&f, a.len() as u64, &Format::Arrow, 1 << 20).unwrap(),
        Some((a.len() as u64 - 310, 310))
    );
    // A claim past the start of the file, a missing magic, another format.
    let mut huge = data(100);
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    huge.extend_from_slice(b"PAR1");
    let f = file_with(&huge);
    assert_eq!(
        footer_span(&f, huge.len() as u64, &Format::Parquet, 1 << 20).unwrap(),
        None
    );
    let f = file_with(&p[..p.len() - 1]);
    assert_eq!(
        footer_span(&f, p.len() as u64 - 1, &Format::Parquet, 1 << 20).unwrap(),
        None
    );
    assert_eq!(
        footer_span(&file_with(&p), p.len() as u64, &Format::Csv, 1 << 20).unwrap(),
        None
    );
    assert_eq!(
        footer_span(&file_with(b"PAR"), 3, &Format::Parquet, 1 << 20).unwrap(),
        None
    );
}

/// Reads every batch of a file of `format` through a window of
/// `capacity` bytes with no spill file, copying in 64 KiB buffers:
/// succeeds only if the reader never needed a byte twice.
fn read_all_through(bytes: Vec<u8>, format: Format, capacity: usize) -> usize {
    let file = file_with(&bytes);
    let len = bytes.len() as u64;
    let footer = match footer_span(&file, len, &format, 1 << 20).unwrap() {
        Some((offset, n)) => {
            let mut b = vec![0u8; n];
            file.read_exact_at(&mut b, offset).unwrap();
            Footer { offset, bytes: b }
        }
        None => Footer {
            offset: len,
            bytes: Vec::new(),
        },
    };
    let w = Arc::new(Window::new(len, capacity, footer));
    let copier = copy(&w, bytes, 64 << 10, None);
    let mut rows = 0;
    let batches = crate::read::open_source(w.clone(), &crate::read::ReadOptions::new(format));
    for batch in batches.unwrap() {
        rows += batch.unwrap().batch.num_rows();
    }
    w.reader_done();
    copier.join().unwrap();
    assert!(w.intact());
    rows
}

fn record_batch(from: i64, rows: i64) -> arrow_array::RecordBatch {
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + rows));
    let names: ArrayRef = Arc::new(StringArray::from_iter_values(
        (from..from + rows).map(|i| format!("name {i}")),
    ));
    arrow_array::RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap()
}

#[test]
fn parquet_and_arrow_files_are_read_once_when_their_parts_fit_the_window() {
    // Parquet: 20 row groups of 20,000 rows (about 300 KiB each).
    let mut parquet = Vec::new();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(20_000))
        .build();
    let batch = record_batch(0, 400_000);
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut parquet, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    assert!(parquet.len() > 4 << 20, "{}", parquet.len());
    assert_eq!(read_all_through(parquet, Format::Parquet, 1 << 20), 400_000);

    // Arrow IPC file: 40 batches of 10,000 rows.
    let mut arrow = Vec::new();
    let schema = record_batch(0, 1).schema();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(&mut arrow, &schema).unwrap();
    for i in 0..40 {
        writer.write(&record_batch(i * 10_000, 10_000)).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    assert!(arrow.len() > 4 << 20, "{}", arrow.len());
    assert_eq!(read_all_through(arrow, Format::Arrow, 1 << 20), 400_000);
}
