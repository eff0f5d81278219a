#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zoek_fuzz::collection_manifest(data);
});
