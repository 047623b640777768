//! Where log lines are written, and how often. A quiet server writes each line at once. A busy one
//! (two lines per registration, thousands of registrations a second) would spend a system call per
//! line, so a line that comes less than [`WINDOW`] after the last write waits, and the first line
//! that comes after the window writes everything waiting with it: while the server is busy, about a
//! hundred writes a second, by the threads that log anyway. When it falls quiet, a flusher thread
//! writes what is left after [`QUIET`]: on a virtual machine every sleep and wake-up of a thread
//! costs tens of microseconds, so the flusher sleeps only when lines wait, and rarely. Lines keep
//! their order; [`LogSink::flush`] writes what waits (at exit, and before the log file is reopened).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// While lines keep coming, none waits longer than this.
pub const WINDOW: Duration = Duration::from_millis(10);

/// When lines stop coming, the last ones wait at most this long.
pub const QUIET: Duration = Duration::from_millis(200);

/// Past this many bytes waiting, they are written at once.
const MOST_WAITING: usize = 64 * 1024;

/// Where lines go (stderr, the log file), shared by every writer; cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink").finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    /// Tells the flusher that lines wait.
    waiting: Condvar,
    /// Whether lines may wait (the server, with its flusher running); tools write every line at
    /// once.
    coalesce: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock (a panic while a line was written) still holds a usable buffer.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct State {
    out: Box<dyn Write + Send>,
    /// Lines not written yet.
    pending: Vec<u8>,
    /// When `out` was last written.
    last_write: Option<Instant>,
    /// When the oldest line of `pending` came.
    pending_since: Option<Instant>,
    /// The flusher has been told, and will write `pending` when its window ends.
    armed: bool,
}

impl State {
    /// Writes what waits, then `line`. A failed write is dropped: a log that cannot be written
    /// must not stop the server (the next write tries again).
    fn write_out(&mut self, line: &[u8]) {
        if self.pending.is_empty() {
            if !line.is_empty() {
                let _ = self.out.write_all(line);
            }
        } else {
            self.pending.extend_from_slice(line);
            let _ = self.out.write_all(&self.pending);
            self.pending.clear();
        }
        let _ = self.out.flush();
        self.last_write = Some(Instant::now());
        self.pending_since = None;
    }
}

impl LogSink {
    /// A sink writing to `out`. With `coalesce`, the lines of a busy moment are written together
    /// by a flusher thread (if it cannot be started, every line is written at once).
    pub fn new(out: Box<dyn Write + Send>, coalesce: bool) -> LogSink {
        let state = State { out, pending: Vec::new(), last_write: None, pending_since: None, armed: false };
        let shared =
            Arc::new(Shared { state: Mutex::new(state), waiting: Condvar::new(), coalesce: AtomicBool::new(coalesce) });
        if coalesce {
            let flusher = Arc::clone(&shared);
            // The flusher only locks, sleeps and writes: a small stack does.
            let started = std::thread::Builder::new()
                .name("log-flusher".into())
                .stack_size(64 * 1024)
                .spawn(move || flush_loop(&flusher));
            if started.is_err() {
                shared.coalesce.store(false, Ordering::Relaxed);
            }
        }
        LogSink { shared }
    }

    /// Takes one whole line (or several).
    pub fn line(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        let recent = state.last_write.is_some_and(|t| t.elapsed() < WINDOW);
        if !self.shared.coalesce.load(Ordering::Relaxed) || (!recent && state.pending.is_empty()) {
            state.write_out(line);
            return;
        }
        let now = Instant::now();
        let since = *state.pending_since.get_or_insert(now);
        if now.duration_since(since) >= WINDOW || state.pending.len() + line.len() >= MOST_WAITING {
            state.write_out(line);
            return;
        }
        state.pending.extend_from_slice(line);
        if !state.armed {
            state.armed = true;
            self.shared.waiting.notify_one();
        }
    }

    /// Writes every line waiting.
    pub fn flush(&self) {
        self.shared.lock().write_out(&[]);
    }

    /// Writes what waits to the current output, then switches to `out` (the log file reopened).
    pub fn replace(&self, out: Box<dyn Write + Send>) {
        let mut state = self.shared.lock();
        state.write_out(&[]);
        state.out = out;
    }
}

/// The flusher: sleeps until lines wait, lets [`QUIET`] pass, writes what still waits then; for the
/// life of the process.
fn flush_loop(shared: &Shared) {
    loop {
        let mut state = shared.lock();
        while !state.armed {
            state = shared.waiting.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        drop(state);
        std::thread::sleep(QUIET);
        let mut state = shared.lock();
        if !state.pending.is_empty() {
            state.write_out(&[]);
        }
        state.armed = false;
    }
}

/// A [`std::io::Write`] handle on a sink for one log event (tracing writes each event whole).
#[derive(Clone, Debug)]
pub struct SinkWriter(pub LogSink);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.line(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SinkWriter {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that records each write.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        fn writes(&self) -> Vec<String> {
            self.0.lock().unwrap().iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect()
        }
    }

    #[test]
    fn a_quiet_line_is_written_at_once_and_a_burst_together_in_order() {
        let out = Recorder::default();
        let sink = LogSink::new(Box::new(out.clone()), true);
        sink.line(b"first\n");
        assert_eq!(out.writes(), ["first\n"], "a line after a quiet moment is written at once");
        for i in 0..50 {
            sink.line(format!("burst {i}\n").as_bytes());
        }
        // The burst waits for the flusher and comes in a few writes (one, on an idle machine), in
        // order.
        let expected: String =
            std::iter::once("first\n".to_owned()).chain((0..50).map(|i| format!("burst {i}\n"))).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        while out.writes().concat() != expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let writes = out.writes();
        assert_eq!(writes.concat(), expected);
        assert!(writes.len() <= 10, "51 lines in {} writes: {writes:?}", writes.len());
        // After a quiet moment, at once again.
        std::thread::sleep(WINDOW * 2);
        sink.line(b"later\n");
        assert_eq!(out.writes().last().map(String::as_str), Some("later\n"));
    }

    #[test]
    fn flush_and_replace_write_what_waits_first() {
        let (old, new) = (Recorder::default(), Recorder::default());
        let sink = LogSink::new(Box::new(old.clone()), true);
        sink.line(b"a\n");
        sink.line(b"b\n");
        sink.replace(Box::new(new.clone()));
        sink.line(b"c\n");
        sink.flush();
        assert_eq!(old.writes().concat(), "a\nb\n");
        assert_eq!(new.writes().concat(), "c\n");
    }

    #[test]
    fn without_coalescing_every_line_is_its_own_write() {
        let out = Recorder::default();
        let sink = LogSink::new(Box::new(out.clone()), false);
        for line in ["x\n", "y\n", "z\n"] {
            sink.line(line.as_bytes());
        }
        assert_eq!(out.writes(), ["x\n", "y\n", "z\n"]);
    }
}
