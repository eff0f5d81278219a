#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    zoek_fuzz::doc_table(data);
});
