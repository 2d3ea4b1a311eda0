use super::*;

/// A minimal ClientHello with an optional SNI extension.
fn hello(sni: Option<&str>) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
    body.extend_from_slice(&[1, 0]); // null compression
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let n = name.as_bytes();
        let mut list = vec![0u8];
        list.extend_from_slice(&(n.len() as u16).to_be_bytes());
        list.extend_from_slice(n);
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend_from_slice(&list);
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
        exts.extend_from_slice(&data);
    }
    exts.extend_from_slice(&[0x00, 0x2b, 0, 3, 2, 3, 4]); // supported_versions
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![0x01, 0, (body.len() >> 8) as u8, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[test]
fn reads_sni_and_handles_partial_and_bad_input() {
    let h = hello(Some("Example.COM."));
    assert_eq!(parse_client_hello(&h), Hello::Sni("example.com".into()));
    assert_eq!(parse_client_hello(&hello(None)), Hello::NoSni);
    for cut in [0, 1, 4, 5, 20, h.len() - 1] {
        if cut == 0 {
            assert_eq!(parse_client_hello(&h[..0]), Hello::Incomplete);
            continue;
        }
        assert_eq!(
            parse_client_hello(&h[..cut]),
            Hello::Incomplete,
            "cut {cut}"
        );
    }
    assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
    assert_eq!(parse_client_hello(b"SSH-2.0-x\r\n"), Hello::NotTls);
    // Split over two records: reassembled, the name is still found.
    let hs = &h[5..];
    let (a, b) = hs.split_at(20);
    let mut split = Vec::new();
    for part in [a, b] {
        split.extend_from_slice(&[0x16, 0x03, 0x01]);
        split.extend_from_slice(&(part.len() as u16).to_be_bytes());
        split.extend_from_slice(part);
    }
    assert_eq!(parse_client_hello(&split), Hello::Sni("example.com".into()));
    assert_eq!(
        parse_client_hello(&split[..split.len() - 3]),
        Hello::Incomplete
    );
    let mut other = split.clone();
    other[5 + 20] = 0x17; // application data before the hello is complete
    assert_eq!(parse_client_hello(&other), Hello::Malformed);
    let mut bad = h.clone();
    bad[5] = 0x02; // ServerHello, not ClientHello
    assert_eq!(parse_client_hello(&bad), Hello::Malformed);
    // Every truncation of the inner lengths must not panic.
    for i in 5..h.len() {
        let mut m = h.clone();
        m[i] = 0xff;
        let _ = parse_client_hello(&m);
    }
}

/// A ClientHello handshake message (type, 24-bit length, body) with an SNI
/// extension after a padding extension of `pad` bytes.
fn handshake(sni: &str, pad: usize) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    let mut exts = vec![0x00, 0x15];
    exts.extend_from_slice(&(pad as u16).to_be_bytes());
    exts.resize(exts.len() + pad, 0);
    let n = sni.as_bytes();
    exts.extend_from_slice(&[0, 0]);
    exts.extend_from_slice(&(n.len() as u16 + 5).to_be_bytes());
    exts.extend_from_slice(&(n.len() as u16 + 3).to_be_bytes());
    exts.push(0);
    exts.extend_from_slice(&(n.len() as u16).to_be_bytes());
    exts.extend_from_slice(n);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let len = body.len();
    let mut hs = vec![0x01, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    hs.extend_from_slice(&body);
    hs
}

/// The padding that makes `handshake(sni, pad)` exactly `total` bytes.
fn pad_for(sni: &str, total: usize) -> usize {
    total - handshake(sni, 0).len()
}

/// `payload` in handshake records of at most `chunk` bytes.
fn records(payload: &[u8], chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in payload.chunks(chunk) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[test]
fn a_large_hello_is_read_with_its_full_lengths() {
    // Lengths above 255 use the middle byte of the 24-bit length.
    for total in [300, 1000, 5000, 16 * 1024] {
        let hs = handshake("big.example", pad_for("big.example", total));
        assert_eq!(hs.len(), total);
        assert_eq!(
            parse_client_hello(&records(&hs, 16 * 1024)),
            Hello::Sni("big.example".into()),
            "{total} bytes"
        );
    }
}

#[test]
fn records_hold_one_to_16640_bytes() {
    let limit = 16 * 1024 + 256;
    let hs = handshake("a.example", pad_for("a.example", limit));
    assert_eq!(
        parse_client_hello(&records(&hs, limit)),
        Hello::Sni("a.example".into()),
        "a record of exactly {limit} bytes"
    );
    // One byte more in a single record is malformed, whatever follows.
    let hs = handshake("a.example", pad_for("a.example", limit + 1));
    let mut one = vec![0x16, 0x03, 0x01];
    one.extend_from_slice(&((limit + 1) as u16).to_be_bytes());
    one.extend_from_slice(&hs);
    assert_eq!(parse_client_hello(&one), Hello::Malformed);
    // So is an empty record.
    let mut empty = vec![0x16, 0x03, 0x01, 0, 0];
    empty.extend_from_slice(&records(&handshake("a.example", 0), 100));
    assert_eq!(parse_client_hello(&empty), Hello::Malformed);
}

#[test]
fn a_hello_of_up_to_64_kib_is_reassembled_and_no_more() {
    let hs = handshake("edge.example", pad_for("edge.example", MAX_HELLO));
    assert_eq!(hs.len(), MAX_HELLO);
    assert_eq!(
        parse_client_hello(&records(&hs, 16 * 1024)),
        Hello::Sni("edge.example".into())
    );
    // Declaring one byte more is refused at once, before it all arrives.
    let over = MAX_HELLO - 4 + 1;
    let head = [
        0x01,
        (over >> 16) as u8,
        (over >> 8) as u8,
        over as u8,
        3,
        3,
    ];
    assert_eq!(parse_client_hello(&records(&head, 100)), Hello::Malformed);
    // The high byte of the declared length counts.
    let head = [0x01, 0x01, 0x00, 0x0a, 3, 3, 7];
    assert_eq!(parse_client_hello(&records(&head, 100)), Hello::Malformed);
    // A hello declared short of the limit, still incomplete after 64 KiB
    // of tiny records, is refused rather than waited for.
    let hs = handshake("slow.example", pad_for("slow.example", 30_000));
    let tiny = records(&hs, 1);
    assert!(tiny.len() > MAX_HELLO);
    assert_eq!(parse_client_hello(&tiny[..MAX_HELLO + 6]), Hello::Malformed);
    assert_eq!(
        parse_client_hello(&tiny[..MAX_HELLO - 6]),
        Hello::Incomplete
    );
}

#[test]
fn only_a_first_record_with_version_3_is_tls() {
    let hs = handshake("v.example", 0);
    let mut first = records(&hs, 1000);
    first[1] = 0x02;
    assert_eq!(parse_client_hello(&first), Hello::NotTls);
    let mut second = records(&hs, 20);
    second[25 + 1] = 0x02;
    assert_eq!(parse_client_hello(&second), Hello::Malformed);
}
