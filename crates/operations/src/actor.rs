//! Who an operator action is recorded as. An audit trail that says
//! `unknown@localhost` (a container has no `USER` or `HOSTNAME` variable)
//! tells nobody anything, so the name is looked for in order: what the
//! front end passes (a flag of its own), `DORAFLEET_ACTOR`, then the OS user
//! and host as the kernel knows them.

/// The environment variable that names the actor when no flag does.
pub const ACTOR_ENV: &str = "DORAFLEET_ACTOR";

/// `explicit`, else `DORAFLEET_ACTOR`, else `user@host` of the OS.
pub fn resolve(explicit: Option<&str>) -> String {
    let given = explicit
        .map(str::to_owned)
        .or_else(|| std::env::var(ACTOR_ENV).ok())
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty());
    given.unwrap_or_else(|| format!("{}@{}", os_user(), host()))
}

fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .or_else(user_of_this_process)
        .unwrap_or_else(|| "unknown".into())
}

/// The name of this process's real uid, from `/proc` and `/etc/passwd`
/// (or `uid N` when the uid has no entry, as in many containers).
fn user_of_this_process() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    user_of_uid(&passwd, real_uid(&status)?)
}

/// The real uid in a `/proc/PID/status` text (`Uid:` real, effective, …).
fn real_uid(status: &str) -> Option<&str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()
}

/// The login of `uid` in an `/etc/passwd` text, or `uid N` without an entry.
fn user_of_uid(passwd: &str, uid: &str) -> Option<String> {
    let name = passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    });
    Some(name.unwrap_or_else(|| format!("uid {uid}")))
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_actor_wins_and_a_blank_one_does_not_count() {
        assert_eq!(resolve(Some(" maria ")), "maria");
        assert!(
            resolve(Some("  ")).contains('@'),
            "a blank name falls back to user@host"
        );
    }

    #[test]
    fn the_os_user_is_read_from_the_kernel_and_the_password_file() {
        let status = "Name:\tdorafleet\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\n";
        let passwd = "root:x:0:0:root:/root:/bin/bash\nmaria:x:1000:1000::/srv/maria:/bin/sh\n";
        assert_eq!(real_uid(status), Some("1000"));
        assert_eq!(user_of_uid(passwd, "1000").as_deref(), Some("maria"));
        assert_eq!(user_of_uid(passwd, "4242").as_deref(), Some("uid 4242"));
        assert_eq!(real_uid("Name:\tx\n"), None);
        // And on this machine the lookup finds a name for the test's own uid.
        assert!(user_of_this_process().is_some());
    }
}
