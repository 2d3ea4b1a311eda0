//! SOCKS5 negotiation over an in-memory stream: what the client reads back
//! and what the proxy concludes.
use super::*;

/// Runs `negotiate` against `client_bytes` and returns its result with
/// every byte the proxy wrote back.
async fn negotiate_with(
    client_bytes: &[u8],
    token: Option<&str>,
) -> (Result<(String, u16), Reason>, Vec<u8>) {
    let (mut client, mut server) = tokio::io::duplex(4096);
    client.write_all(client_bytes).await.unwrap();
    // The client sends nothing more: a short request ends, not waits.
    client.shutdown().await.unwrap();
    let result = negotiate(&mut server, token).await;
    drop(server);
    let mut back = Vec::new();
    client.read_to_end(&mut back).await.unwrap();
    (result, back)
}

#[tokio::test]
async fn each_address_type_gives_host_and_port() {
    let v4 = [5, 1, 0, 5, 1, 0, 1, 192, 0, 2, 7, 0x01, 0xbb];
    let (r, back) = negotiate_with(&v4, None).await;
    assert_eq!(r, Ok(("192.0.2.7".to_string(), 443)));
    assert_eq!(back, [5, 0], "no-auth chosen, nothing else written yet");

    let mut v6 = vec![5, 1, 0, 5, 1, 0, 4];
    v6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    v6.extend_from_slice(&[0x1f, 0x90]);
    let (r, _) = negotiate_with(&v6, None).await;
    assert_eq!(r, Ok(("2001:db8::7".to_string(), 8080)));

    let mut name = vec![5, 1, 0, 5, 1, 0, 3, 12];
    name.extend_from_slice(b"example.test");
    name.extend_from_slice(&[0, 80]);
    let (r, _) = negotiate_with(&name, None).await;
    assert_eq!(r, Ok(("example.test".to_string(), 80)));
}

#[tokio::test]
async fn bad_greetings_and_requests_are_refused() {
    // Wrong version, or no method offered: closed without a reply.
    for greeting in [&[4u8, 1, 0][..], &[5, 0]] {
        let (r, back) = negotiate_with(greeting, None).await;
        assert_eq!(r, Err(Reason::BadRequest), "{greeting:?}");
        assert!(back.is_empty(), "{greeting:?}: {back:?}");
    }
    // A name that is not UTF-8.
    let (r, _) = negotiate_with(&[5, 1, 0, 5, 1, 0, 3, 2, 0xff, 0xfe, 0, 80], None).await;
    assert_eq!(r, Err(Reason::BadRequest));
    // Wrong version in the request: general failure.
    let (r, back) = negotiate_with(&[5, 1, 0, 4, 1, 0, 1, 1, 2, 3, 4, 0, 80], None).await;
    assert_eq!(r, Err(Reason::BadRequest));
    assert_eq!(back[2..4], [5, 1]);
    // Unknown address type: address type not supported.
    let (r, back) = negotiate_with(&[5, 1, 0, 5, 1, 0, 2, 1, 2, 3, 4, 0, 80], None).await;
    assert_eq!(r, Err(Reason::BadRequest));
    assert_eq!(back[2..4], [5, 8]);
    // BIND: command not supported, after the whole request was read.
    let (r, back) = negotiate_with(&[5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 80], None).await;
    assert_eq!(r, Err(Reason::Method));
    assert_eq!(back[2..4], [5, 7]);
    // Cut short anywhere: refused.
    let whole = [5, 1, 0, 5, 1, 0, 1, 192, 0, 2, 7, 0x01, 0xbb];
    for cut in 0..whole.len() {
        let (r, _) = negotiate_with(&whole[..cut], None).await;
        assert_eq!(r, Err(Reason::BadRequest), "cut at {cut}");
    }
}

#[tokio::test]
async fn a_token_is_the_password_and_nothing_else_gets_in() {
    let token = Some("sekrit");
    let mut good = vec![5, 2, 0, 2, 1, 6];
    good.extend_from_slice(b"cordon");
    good.push(6);
    good.extend_from_slice(b"sekrit");
    good.extend_from_slice(&[5, 1, 0, 1, 192, 0, 2, 7, 0, 80]);
    let (r, back) = negotiate_with(&good, token).await;
    assert_eq!(r, Ok(("192.0.2.7".to_string(), 80)));
    assert_eq!(back, [5, 2, 1, 0], "user/pass chosen, then accepted");

    // Offering only no-auth: no acceptable method.
    let (r, back) = negotiate_with(&[5, 1, 0], token).await;
    assert_eq!(r, Err(Reason::Auth));
    assert_eq!(back, [5, 0xff]);
    // Without a token, offering only user/pass is refused the same way.
    let (r, back) = negotiate_with(&[5, 1, 2], None).await;
    assert_eq!(r, Err(Reason::Auth));
    assert_eq!(back, [5, 0xff]);
    // A wrong or longer password.
    for pass in [&b"sekriT"[..], b"sekrit!", b""] {
        let mut bad = vec![5, 1, 2, 1, 1, b'u', pass.len() as u8];
        bad.extend_from_slice(pass);
        let (r, back) = negotiate_with(&bad, token).await;
        assert_eq!(r, Err(Reason::Auth), "{pass:?}");
        assert_eq!(back, [5, 2, 1, 1], "{pass:?}");
    }
}
