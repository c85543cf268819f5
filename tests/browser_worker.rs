//! The browser cases in a service worker — where the extension really runs the core.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_service_worker);

mod browser_cases;
