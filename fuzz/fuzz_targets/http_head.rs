//! `cordon_proxy::http::parse_head` must never panic on any request head.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cordon_proxy::http::parse_head(data);
});
