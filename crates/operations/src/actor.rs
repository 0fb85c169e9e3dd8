//! Who an operator action is recorded as. An audit trail that says
//! `unknown@localhost` (a container has no `USER` or `HOSTNAME` variable)
//! tells nobody anything, so the name is looked for in order: what the
//! operator said (`--actor`), `DORAFLEET_ACTOR`, then the OS user and host
//! as the kernel knows them.

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
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
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
    fn an_explicit_actor_wins_and_blank_ones_do_not_count() {
        assert_eq!(resolve(Some("maria")), "maria");
        assert_ne!(resolve(Some("  ")), "  ");
    }

    #[test]
    fn without_a_name_the_os_user_and_host_are_found_even_without_the_variables() {
        let found = format!("{}@{}", user_of_this_process().unwrap(), host());
        assert!(!found.starts_with("unknown@"), "{found}");
        assert!(
            !found.ends_with("@localhost") || host() == "localhost",
            "{found}"
        );
    }
}
