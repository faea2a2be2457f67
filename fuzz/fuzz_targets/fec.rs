#![no_main]

use libfuzzer_sys::fuzz_target;

// Body and invariants: dmp_core_fuzz::fec.
fuzz_target!(|data: &[u8]| {
    dmp_core_fuzz::fec::run(data);
});
