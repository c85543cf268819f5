//! The `semantest-server` binary as a test harness runs it: `--port 0`, read the listening line,
//! talk to it, SIGTERM, exit 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const WAIT: Duration = Duration::from_secs(20);

fn server() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_semantest-server"));
    for var in [
        "SEMANTEST_PORT",
        "SEMANTEST_BIND",
        "SEMANTEST_ENVIRONMENT",
        "SEMANTEST_ALLOW_ORIGINS",
    ] {
        command.env_remove(var);
    }
    command.env("RUST_LOG", "warn");
    command
}

/// Waits (bounded) for the child to exit; kills it and fails if it does not.
fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain HTTP/1.1 GET; returns the whole response.
fn http_get(addr: &str, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn runs_on_port_0_answers_and_exits_0_on_sigterm() {
    let state = tempfile::tempdir().unwrap();
    let mut child = server()
        .args(["--port", "0", "--environment", "production"])
        .env("SEMANTEST_API_KEYS", "binary-test-key-0123456789")
        // No operator key is needed any more; the book of installs goes to a folder of its own.
        .env("XDG_STATE_HOME", state.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(WAIT) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            panic!("no listening line in time");
        }
    };
    let addr = line
        .strip_prefix("semantest-server listening on http://")
        .and_then(|rest| rest.strip_suffix(" (environment production)\n"))
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_owned();
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );

    let response = http_get(&addr, "/signature");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with(
            r#"{"service":"semantest","version":"1.0.0","environment":"production","capabilities":["imageGeneration","imageDownload"]}"#
        ),
        "{response}"
    );

    kill(
        Pid::from_raw(i32::try_from(child.id()).unwrap()),
        Signal::SIGTERM,
    )
    .unwrap();
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn a_port_in_use_is_a_one_line_error_and_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, stderr) = run_to_exit(&["--port", &port.to_string()]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "semantest-server: cannot listen on 127.0.0.1:{port}: "
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    drop(taken);
}

/// Runs the binary with `args` until it exits (bounded); its exit code and stderr.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut child = server()
        .args(args)
        .env_remove("SEMANTEST_API_KEYS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

#[test]
fn a_bad_key_or_identity_file_refuses_to_start_and_never_prints_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("identity.json");
    std::fs::write(&book, "{ not json").unwrap();
    let (code, stderr) = run_to_exit(&[
        "--port",
        "0",
        "--environment",
        "production",
        "--identity-file",
        book.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot start: the identity file") && stderr.contains("is not valid"),
        "{stderr}"
    );
    let (code, stderr) = run_to_exit(&[
        "--port",
        "0",
        "--environment",
        "production",
        "--api-key",
        "secret key with spaces",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "API key 1 (--api-key / SEMANTEST_API_KEYS): a token may only hold letters, digits"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("secret key with spaces"),
        "the key is not repeated: {stderr}"
    );
    let file = dir.path().join("keys");
    std::fs::write(&file, "# keys\nfile-key-0123456789abcdef\nnot a key\n").unwrap();
    let (code, stderr) = run_to_exit(&[
        "--port",
        "0",
        "--environment",
        "production",
        "--api-keys-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(":3: not a valid API key"), "{stderr}");
    assert!(!stderr.contains("file-key-0123456789abcdef"), "{stderr}");
}
