//! Writes the generated seed corpora (`fuzz/corpus/<target>/`). The text seeds are copies
//! of the committed configs and profiles; the binary seeds are built by the encoders. Run
//! with `cargo test -p fuzz-targets -- --ignored write_seeds` and commit the result.

use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_targets::corpus_dir(target);
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn write_all(target: &str, seeds: Vec<Vec<u8>>) {
    for (i, seed) in seeds.iter().enumerate() {
        write(target, &format!("seed-{i:02}"), seed);
    }
}

#[test]
#[ignore = "rewrites fuzz/corpus; run by hand"]
fn write_seeds() {
    write_all("proxy_v2", super::proxy_v2::seeds());
    write_all("radius_proxy", super::radius::seeds());
    write_all("radius_loadgen", super::radius::seeds());
    write_all("client_hello", super::client_hello::seeds());
    write_all("category_lookup", super::categories::lookup_seeds());
    write_all("category_db", super::categories::db_seeds());
    for (target, path) in super::loaders::seeds() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        let parent = path
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .expect("parent dir");
        let bytes = std::fs::read(&path).expect("read seed source");
        write(target, &format!("{parent}-{name}"), &bytes);
    }
    // First byte: how many read-size bytes follow (modulo 5), then the stream.
    let streams: [&[u8]; 6] = [
        b"\x00GET http://school.example/ HTTP/1.1\r\nHost: school.example\r\n\r\n",
        b"\x00POST http://school.example/upload HTTP/1.1\r\nHost: school.example\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"\x02\x07\x03POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\x01\x05POST /a HTTP/1.1\r\nContent-Length: 12\r\n\r\nGET /b HTTP/1POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\ncontent-length: 0\r\n\r\n0\r\n\r\n",
        b"\x00\r\nGET / HTTP/1.1\nhost: x\ntransfer-encoding: gzip, chunked\n\n0\n\n",
        b"\x03\x01\x01\x01PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
    ];
    write_all("framing", streams.iter().map(|h| h.to_vec()).collect());
}
