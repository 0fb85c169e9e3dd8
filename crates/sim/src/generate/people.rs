//! Teams and people. Every person has a different-looking identity in each
//! tool (GitHub login `mkowal`, Jira e-mail `maria.kowalski@acme.example`,
//! Jenkins user `maria_k`), because identity resolution is something the
//! pipeline must get right and an easy mapping would hide mistakes.

use crate::model::Person;
use rand::Rng;
use std::collections::HashSet;

use super::random::hex;

const TEAM_IDS: &[(&str, &str)] = &[
    ("payments", "PAY"),
    ("search", "SRCH"),
    ("identity", "IDN"),
    ("mobile", "MOB"),
    ("platform", "PLAT"),
    ("billing", "BILL"),
    ("growth", "GROW"),
    ("checkout", "CHK"),
    ("insights", "INS"),
    ("messaging", "MSG"),
];

const FIRST_NAMES: &[&str] = &[
    "maria", "john", "aisha", "kenji", "olga", "pedro", "fatima", "liam", "chen", "sofia", "arjun",
    "emma", "noah", "yara", "tomasz", "ines", "david", "mei", "lucas", "amara", "oscar", "priya",
    "jonas", "zoe", "ravi", "elena", "samuel", "hana", "victor", "nadia",
];

const LAST_NAMES: &[&str] = &[
    "kowalski", "smith", "okafor", "tanaka", "petrova", "alvarez", "haddad", "murphy", "wang",
    "rossi", "sharma", "fischer", "johnson", "nasser", "nowak", "silva", "cohen", "lin", "martin",
    "mensah", "berg", "patel", "schmidt", "dubois", "iyer", "popescu", "adeyemi", "suzuki",
    "moreau", "karimi",
];

/// The id and Jira key of team `index`: a known name, or `team-N` / `TMx` beyond the list.
pub(crate) fn team_identity(index: usize) -> (String, String) {
    match TEAM_IDS.get(index) {
        Some((id, key)) => ((*id).to_owned(), (*key).to_owned()),
        None => (
            format!("team-{}", index + 1),
            format!("TM{}", letters(index + 1)),
        ),
    }
}

/// 1 → "A", 26 → "Z", 27 → "AA": Jira keys must be letters.
fn letters(mut n: usize) -> String {
    let mut out = Vec::new();
    while n > 0 {
        n -= 1;
        out.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// Creates people with identities unique across the whole organisation.
#[derive(Debug, Default)]
pub(crate) struct PeopleFactory {
    names: HashSet<(usize, usize)>,
    contributor_ids: HashSet<String>,
    logins: HashSet<String>,
    jenkins_users: HashSet<String>,
}

impl PeopleFactory {
    pub(crate) fn person(&mut self, rng: &mut impl Rng, team: &str) -> Person {
        let (first_i, last_i) = loop {
            let pair = (
                rng.random_range(0..FIRST_NAMES.len()),
                rng.random_range(0..LAST_NAMES.len()),
            );
            let exhausted = self.names.len() >= FIRST_NAMES.len() * LAST_NAMES.len();
            if self.names.insert(pair) || exhausted {
                break pair;
            }
        };
        let (first, last) = (FIRST_NAMES[first_i], LAST_NAMES[last_i]);
        let short_last: String = last.chars().take(5).collect();
        let login = unique(
            &mut self.logins,
            format!("{}{short_last}", &first[..1]),
            |base, n| format!("{base}{n}"),
        );
        let jenkins_user = unique(
            &mut self.jenkins_users,
            format!("{first}_{}", &last[..1]),
            |_, n| format!("{first}_{}", &last[..(n as usize + 1).min(last.len())]),
        );
        let contributor_id = unique(
            &mut self.contributor_ids,
            format!("{first}-{last}"),
            |base, n| format!("{base}-{n}"),
        );
        Person {
            jira_email: format!("{}@acme.example", contributor_id.replacen('-', ".", 1)),
            contributor_id,
            display_name: format!("{} {}", capitalised(first), capitalised(last)),
            team: team.to_owned(),
            github_login: login,
            github_id: rng.random_range(1_000_000..99_999_999),
            jira_account_id: hex(rng, 24),
            jenkins_user,
        }
    }
}

fn unique(
    taken: &mut HashSet<String>,
    base: String,
    variant: impl Fn(&str, u32) -> String,
) -> String {
    let mut candidate = base.clone();
    let mut n = 1;
    while !taken.insert(candidate.clone()) {
        n += 1;
        candidate = variant(&base, n);
        if n > 50 {
            candidate = format!("{base}{n}");
        }
    }
    candidate
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_keys_beyond_the_named_list_are_letters_and_unique() {
        let keys: HashSet<String> = (0..60).map(|i| team_identity(i).1).collect();
        assert_eq!(keys.len(), 60);
        assert!(
            keys.iter()
                .all(|k| k.chars().all(|c| c.is_ascii_uppercase()))
        );
        assert_eq!(team_identity(10).0, "team-11");
    }
}
