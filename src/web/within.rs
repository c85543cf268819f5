//! Bounds the time a piece of browser work may take: its result when it ends within the limit,
//! `None` when the limit comes first (the work itself goes on, unobserved). One `setTimeout`,
//! cancelled when the work wins.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use gloo_timers::callback::Timeout;
use js_sys::{Array, Promise};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// `work`'s output, if it comes within `ms` milliseconds.
pub(crate) async fn within<T: 'static>(
    ms: u64,
    work: impl Future<Output = T> + 'static,
) -> Option<T> {
    let result: Rc<RefCell<Option<T>>> = Rc::default();
    let mut work = Some(work);
    let done = Promise::new(&mut |resolve, _| {
        let (Some(work), result) = (work.take(), result.clone()) else {
            return;
        };
        spawn_local(async move {
            let output = work.await;
            *result.borrow_mut() = Some(output);
            let _ = resolve.call0(&JsValue::NULL);
        });
    });
    let mut timer = None;
    let limit = Promise::new(&mut |resolve, _| {
        // setTimeout takes a signed 32-bit delay; anything larger would fire at once.
        let delay = u32::try_from(ms.min(i32::MAX as u64)).unwrap_or(u32::MAX);
        timer = Some(Timeout::new(delay, move || {
            drop(resolve.call0(&JsValue::NULL))
        }));
    });
    let _ = JsFuture::from(Promise::race(&Array::of2(&done, &limit))).await;
    drop(timer); // cancels it when the work came first
    let output = result.borrow_mut().take();
    output
}
