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
