//! `cordon_proxy::sni::parse_client_hello` must never panic, and an SNI
//! name it returns has been ASCII-lowercased.
#![no_main]

use cordon_proxy::sni::{parse_client_hello, Hello};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Hello::Sni(name) = parse_client_hello(data) {
        // The parser applies `to_ascii_lowercase`; non-ASCII characters are
        // left as they are, so only ASCII upper case is ruled out.
        assert!(
            !name.bytes().any(|b| b.is_ascii_uppercase()),
            "SNI name not ASCII-lowercased: {name:?}"
        );
    }
});
