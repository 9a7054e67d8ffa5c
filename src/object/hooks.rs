//! The test hooks (the `test-hooks` feature, routed by the Worker only with the
//! `HERENOW_TEST_HOOKS` var): fault injection and measurement for the tests, the soak and the
//! bench. Never in a deploy.

use worker::Result;

use super::{runtime, Answer, SitePresence};
use crate::api::call::{HookAnswer, TestHook};

impl SitePresence {
    pub(super) fn test_hook(&self, hook: TestHook) -> Result<Answer> {
        match hook {
            TestHook::Panic => panic!("test hook: a panic inside the Durable Object"),
            TestHook::Clock { offset_ms } => self.step(|l, _| {
                l.clock_offset = offset_ms;
                // timers were set on the old clock: look again now
                l.alarm_at = None;
                let hook = "clock".to_owned();
                Answer::json(&HookAnswer::Clock { hook, offset_ms })
            }),
            TestHook::FailAlarm => self.step(|l, _| {
                l.fail_next_alarm = true;
                Answer::json(&HookAnswer::Taken {
                    hook: "fail-alarm".into(),
                })
            }),
            TestHook::Memory => self.step(|l, _| {
                Answer::json(&HookAnswer::Memory {
                    object_wasm_bytes: runtime::wasm_memory_bytes() as u64,
                    sessions: l.core.local_counts().sessions,
                    sockets: l.core.socket_count() as u32,
                    rows_written: l.storage.rows_written(),
                    history_rows_written: l.storage.history_rows_written(),
                    loaded_at: l.loaded_at,
                    count_reads: l.count_reads,
                    alarms_set: l.alarms_set,
                    worker_wasm_bytes: None,
                })
            }),
        }
    }

    /// Whether this alarm was made to fail (it then fails once; the runtime retries it).
    pub(super) fn take_failing_alarm(&self) -> bool {
        let mut guard = self.loaded.borrow_mut();
        let Some(l) = guard.as_mut() else {
            return false;
        };
        if std::mem::take(&mut l.fail_next_alarm) {
            l.alarm_at = None;
            return true;
        }
        false
    }
}
