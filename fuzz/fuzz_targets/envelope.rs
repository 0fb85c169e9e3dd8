//! The task envelope decoder meets whatever a queue delivers: it must
//! answer every body with a task or an error, never a panic, and a task it
//! accepts must survive being encoded and decoded again unchanged.
#![no_main]

use dorafleet_core::TaskEnvelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(task) = TaskEnvelope::decode(body) {
        let again = TaskEnvelope::decode(&task.encode()).expect("an encoded task decodes");
        assert_eq!(again, task);
    }
});
