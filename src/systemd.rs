//! Talking to systemd when it runs Janus as a `Type=notify` service: it
//! learns when Janus is ready (database migrated, a socket open), what it is
//! doing (`systemctl status` shows the socket count), that it is stopping,
//! and, through the watchdog, that its runtime is still turning. Outside
//! systemd (no `NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Sends `states`; a failure is logged, never fatal: the bot works the same
/// whether or not systemd hears about it.
fn notify(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Reports readiness once the first socket is open, then keeps the status
/// line current as sockets come and go. Returns when `shutdown` fires or the
/// count stops changing for good (Janus stopped).
pub async fn report(
    mut connected: watch::Receiver<usize>,
    wanted: usize,
    shutdown: CancellationToken,
) {
    let mut ready = false;
    loop {
        let open = *connected.borrow_and_update();
        let status = format!("{open} of {wanted} Socket Mode connections open");
        if open > 0 && !ready {
            ready = true;
            tracing::debug!("telling systemd Janus is ready");
            notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
        } else {
            notify(&[NotifyState::Status(&status)]);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = connected.changed() => if changed.is_err() { return },
        }
    }
}

/// Sets the status line `systemctl status janus` shows: what start-up is
/// waiting for, before the socket count takes over.
pub fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// Tells systemd Janus is shutting down, so a slow drain is not mistaken for a hang.
pub fn stopping() {
    notify(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: finishing in-flight work"),
    ]);
}

/// Pings the watchdog at half its interval while the runtime runs tasks, so
/// a wedged runtime gets Janus restarted. Does nothing when systemd set no
/// watchdog (`WatchdogSec=`).
pub async fn watchdog(shutdown: CancellationToken) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let every = (interval / 2).max(Duration::from_millis(50));
    tracing::debug!(?interval, "systemd watchdog enabled");
    loop {
        notify(&[NotifyState::Watchdog]);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
