#![no_main]

use libfuzzer_sys::fuzz_target;

// Body and invariants: dmp_core_fuzz::records.
fuzz_target!(|data: &[u8]| {
    let _ = dmp_core_fuzz::records::run(data);
});
