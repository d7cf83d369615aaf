//! The reference filter: Debian's e2guardian (C++), configured from our category
//! database for one group, run in the foreground on a loopback port, stopped by pid.
//!
//! The package's `/etc/e2guardian` is copied as the template (story files, list
//! definitions, language pages) into a directory of the run, its paths rewritten, and
//! then only what the comparison needs is changed:
//! - lists: the group's blocked categories become banned site lists (domain rules) and
//!   banned URL lists (path rules), one file per category carrying `#listcategory`, so the
//!   block page names the category; allowed rules under a blocked parent, and
//!   `always_allow`, become exception lists; `always_deny` a banned site list;
//! - the extension, MIME and regexp URL lists are emptied: the comparison is about sites
//!   and paths, and our proxy has no such rules;
//! - the block and network-error pages are one-line templates with a marker
//!   ([`super::classify`]) so the replay reads the decision from the answer;
//! - `proxyip`/`proxyport` send allowed traffic to a parent proxy on loopback (an
//!   allow-all `filter-proxy` that resolves every host to the test origin), so e2guardian
//!   never resolves a name or leaves the machine.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::rig::children::ChildGuard;
use crate::rig::redis::find_program;

use super::classify::{E2G_BLOCK_MARKER, E2G_NETERR_MARKER};
use super::db::{suffixes, Database, GroupPolicy};
use super::error::ParityError;

pub use super::error::INSTALL_HINT;

/// Category name of the `always_deny` list.
pub const DENY_LIST_CATEGORY: &str = "deny-list";

/// The lists e2guardian gets for one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lists {
    /// Category -> banned domains.
    pub banned_sites: BTreeMap<String, Vec<String>>,
    /// Category -> banned `domain/path` entries.
    pub banned_urls: BTreeMap<String, Vec<String>>,
    /// Domains excepted from the banned lists.
    pub exception_sites: Vec<String>,
    /// `domain/path` entries excepted from the banned lists.
    pub exception_urls: Vec<String>,
}

impl Lists {
    /// Derives the lists from the database and the group's policy.
    pub fn derive(db: &Database, policy: &GroupPolicy) -> Self {
        let domains = db.domain_categories();
        // The verdict of the most specific domain rule covering `host`.
        let host_blocked = |host: &str, skip_self: bool| {
            suffixes(host)
                .skip(usize::from(skip_self))
                .find_map(|s| domains.get(s))
                .is_some_and(|c| policy.blocks(c))
        };
        let mut lists = Lists::default();
        for rule in &db.rules {
            let blocked = policy.blocks(&rule.category);
            match &rule.path {
                None if blocked => lists
                    .banned_sites
                    .entry(rule.category.clone())
                    .or_default()
                    .push(rule.domain.clone()),
                None => {
                    if host_blocked(&rule.domain, true) {
                        lists.exception_sites.push(rule.domain.clone());
                    }
                }
                Some(_) if blocked => lists
                    .banned_urls
                    .entry(rule.category.clone())
                    .or_default()
                    .push(rule.text()),
                Some(_) => {
                    if host_blocked(&rule.domain, false) {
                        lists.exception_urls.push(rule.text());
                    }
                }
            }
        }
        if !policy.always_deny.is_empty() {
            lists
                .banned_sites
                .entry(DENY_LIST_CATEGORY.into())
                .or_default()
                .extend(policy.always_deny.iter().cloned());
        }
        lists
            .exception_sites
            .extend(policy.always_allow.iter().cloned());
        lists
    }
}

/// A lower-case name for a directory. e2guardian lowercases the file names its phrase
/// lists include, so a configuration under a path with capitals (a test's temp dir)
/// fails to load; the configuration is written through this alias, a symbolic link in
/// the temp directory, removed on drop. A path without capitals is used as it is.
#[derive(Debug)]
pub struct LowercasePath {
    path: PathBuf,
    link: Option<PathBuf>,
}

impl LowercasePath {
    /// Creates `dir` and, when its absolute path has capitals, the alias.
    pub fn for_dir(dir: &Path) -> Result<Self, ParityError> {
        std::fs::create_dir_all(dir).map_err(|source| ParityError::Io {
            what: format!("create {}", dir.display()),
            cause: source,
        })?;
        let abs = std::fs::canonicalize(dir).map_err(|source| ParityError::Io {
            what: format!("resolve {}", dir.display()),
            cause: source,
        })?;
        let text = abs.to_string_lossy();
        if text == text.to_lowercase() {
            return Ok(Self {
                path: abs,
                link: None,
            });
        }
        let tmp = std::env::temp_dir();
        let base = if tmp.to_string_lossy() == tmp.to_string_lossy().to_lowercase() {
            tmp
        } else {
            PathBuf::from("/tmp")
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let link = base.join(format!("loadgen-parity-{}-{nanos}", std::process::id()));
        std::os::unix::fs::symlink(&abs, &link).map_err(|source| ParityError::Io {
            what: format!("link {} to {}", link.display(), abs.display()),
            cause: source,
        })?;
        Ok(Self {
            path: link.clone(),
            link: Some(link),
        })
    }

    /// The path to write into configurations.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LowercasePath {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            let _ = std::fs::remove_file(link);
        }
    }
}

/// A written e2guardian configuration.
#[derive(Debug, Clone)]
pub struct E2gConfig {
    /// `e2guardian.conf`.
    pub conf: PathBuf,
    /// The address it listens on.
    pub listen: SocketAddr,
    /// Its access log.
    pub access_log: PathBuf,
}

/// Writes a configuration into `dir` from the package template `template`
/// (`/etc/e2guardian`): listening on `listen`, forwarding to `parent`.
pub fn write_config(
    template: &Path,
    dir: &Path,
    listen: SocketAddr,
    parent: SocketAddr,
    lists: &Lists,
) -> Result<E2gConfig, ParityError> {
    let io = |what: String| {
        move |source| ParityError::Io {
            what,
            cause: source,
        }
    };
    let conf_template = template.join("e2guardian.conf");
    if !conf_template.is_file() {
        return Err(ParityError::Input(format!(
            "{} not found: {INSTALL_HINT}",
            conf_template.display()
        )));
    }
    let etc = dir.join("etc");
    if etc.exists() {
        std::fs::remove_dir_all(&etc).map_err(io(format!("clear {}", etc.display())))?;
    }
    copy_tree(template, &etc)?;
    let etc_str = etc.to_string_lossy().into_owned();
    let template_str = template.to_string_lossy().into_owned();
    rewrite_paths(&etc, &template_str, &etc_str)?;

    let log_dir = dir.join("log");
    std::fs::create_dir_all(&log_dir).map_err(io(format!("create {}", log_dir.display())))?;
    let access_log = log_dir.join("access.log");
    let conf = etc.join("e2guardian.conf");
    let mut text =
        std::fs::read_to_string(&conf).map_err(io(format!("read {}", conf.display())))?;
    for (key, value) in [
        ("languagedir", format!("'{etc_str}/languages'")),
        ("language", "'ukenglish'".to_owned()),
        ("filterip", listen.ip().to_string()),
        ("filterports", listen.port().to_string()),
        ("proxyip", parent.ip().to_string()),
        ("proxyport", parent.port().to_string()),
        ("loglocation", format!("'{}'", access_log.display())),
        (
            "pidfilename",
            format!("'{}'", dir.join("e2guardian.pid").display()),
        ),
        ("nodaemon", "on".to_owned()),
        ("httpworkers", "128".to_owned()),
        ("loglevel", "3".to_owned()),
        ("reverseaddresslookups", "off".to_owned()),
        ("reverseclientiplookups", "off".to_owned()),
        // Root keeps root: the generated files need no other user's access.
        ("daemonuser", "'root'".to_owned()),
        ("daemongroup", "'root'".to_owned()),
    ] {
        text = set_key(&text, key, &value);
    }
    // No transparent HTTPS or ICAP listener: only the one loopback port.
    text = comment_out(&text, "transparenthttpsport");
    text = comment_out(&text, "icapport");
    write(&conf, &text)?;

    let lang = etc.join("languages/ukenglish");
    write(
        &lang.join("template.html"),
        &format!(
            "<html><body>{E2G_BLOCK_MARKER} reason=\"-REASONGIVEN-\" categories=\"-CATEGORIES-\" url=\"-URL-\"</body></html>\n"
        ),
    )?;
    write(
        &lang.join("neterr_template.html"),
        &format!("<html><body>{E2G_NETERR_MARKER} reason=\"-REASONGIVEN-\" url=\"-URL-\"</body></html>\n"),
    )?;
    write_lists(&etc.join("lists"), lists)?;
    Ok(E2gConfig {
        conf,
        listen,
        access_log,
    })
}

fn write_lists(list_dir: &Path, lists: &Lists) -> Result<(), ParityError> {
    let parity = list_dir.join("parity");
    std::fs::create_dir_all(&parity).map_err(|source| ParityError::Io {
        what: format!("create {}", parity.display()),
        cause: source,
    })?;
    let includes = |name: &str, per_category: &BTreeMap<String, Vec<String>>| {
        let mut index =
            String::from("# Generated by loadgen parity: one included file per category.\n");
        for (category, entries) in per_category {
            let file = parity.join(format!("{name}-{category}"));
            let mut body = format!("#listcategory: \"{category}\"\n");
            for e in entries {
                body.push_str(e);
                body.push('\n');
            }
            write(&file, &body)?;
            index.push_str(&format!(".Include<{}>\n", file.display()));
        }
        write(&list_dir.join(name), &index)
    };
    includes("bannedsitelist", &lists.banned_sites)?;
    includes("bannedurllist", &lists.banned_urls)?;
    let plain = |entries: &[String], category: &str| {
        let mut body = format!("#listcategory: \"{category}\"\n");
        for e in entries {
            body.push_str(e);
            body.push('\n');
        }
        body
    };
    write(
        &list_dir.join("exceptionsitelist"),
        &plain(&lists.exception_sites, "exception"),
    )?;
    write(
        &list_dir.join("exceptionurllist"),
        &plain(&lists.exception_urls, "exception"),
    )?;
    // Rules our proxy does not have: emptied so they cannot decide anything.
    for name in [
        "bannedextensionlist",
        "bannedmimetypelist",
        "bannedregexpurllist",
        "exceptionregexpurllist",
        "bannedsiteiplist",
        "bannedsslsitelist",
        "greysitelist",
        "greyurllist",
    ] {
        write(&list_dir.join(name), "# emptied by loadgen parity\n")?;
    }
    Ok(())
}

/// Replaces the value of every `key = ...` line (uncommented or commented out), or
/// appends the key when the file never mentions it.
pub fn set_key(text: &str, key: &str, value: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut found = false;
    for line in text.lines() {
        let bare = line.trim_start().trim_start_matches('#').trim_start();
        let is_key = bare
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if is_key && !found {
            out.push_str(&format!("{key} = {value}\n"));
            found = true;
        } else if is_key && !line.trim_start().starts_with('#') {
            // A later uncommented duplicate would override ours: comment it out.
            out.push_str(&format!("#{line}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !found {
        out.push_str(&format!("{key} = {value}\n"));
    }
    out
}

/// Comments out every uncommented `key = ...` line.
fn comment_out(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let is_key = line
            .trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if is_key {
            out.push('#');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn write(path: &Path, text: &str) -> Result<(), ParityError> {
    std::fs::write(path, text).map_err(|source| ParityError::Io {
        what: format!("write {}", path.display()),
        cause: source,
    })
}

/// Copies a directory tree (files and directories; symbolic links are followed).
fn copy_tree(from: &Path, to: &Path) -> Result<(), ParityError> {
    let io = |what: String| {
        move |source| ParityError::Io {
            what,
            cause: source,
        }
    };
    std::fs::create_dir_all(to).map_err(io(format!("create {}", to.display())))?;
    let entries = std::fs::read_dir(from).map_err(io(format!("read {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("read {}", from.display())))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(io(format!("copy {}", src.display())))?;
        }
    }
    Ok(())
}

/// Rewrites `old` to `new` in every text file of the tree (configs, stories, lists).
fn rewrite_paths(dir: &Path, old: &str, new: &str) -> Result<(), ParityError> {
    let io = |what: String| {
        move |source| ParityError::Io {
            what,
            cause: source,
        }
    };
    for entry in std::fs::read_dir(dir).map_err(io(format!("read {}", dir.display())))? {
        let path = entry.map_err(io(format!("read {}", dir.display())))?.path();
        if path.is_dir() {
            rewrite_paths(&path, old, new)?;
            continue;
        }
        // Binary files (images) are not valid UTF-8 and hold no paths.
        if let Ok(text) = std::fs::read_to_string(&path) {
            if text.contains(old) {
                write(&path, &text.replace(old, new))?;
            }
        }
    }
    Ok(())
}

/// Starts e2guardian in the foreground on `config` (output in `log`) and waits up to
/// `ready_timeout` for its port; it is killed by pid when the guard drops.
pub async fn start(
    program: &Path,
    config: &E2gConfig,
    log: PathBuf,
    ready_timeout: Duration,
) -> Result<ChildGuard, ParityError> {
    let bin = find_program(program).ok_or(ParityError::MissingE2guardian)?;
    let mut cmd = Command::new(bin);
    cmd.arg("-N").arg("-c").arg(&config.conf);
    let mut child = ChildGuard::spawn("e2guardian", cmd, Some(log))?;
    let start = Instant::now();
    // Bounded: one probe every 50 ms until the deadline.
    while start.elapsed() < ready_timeout {
        if let Some(status) = child.try_exit_status() {
            return Err(ParityError::Reference(format!(
                "e2guardian exited ({status}) before listening; its output ends with:\n{}",
                child.stderr_tail(2000)
            )));
        }
        if tokio::net::TcpStream::connect(config.listen).await.is_ok() {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(ParityError::Reference(format!(
        "e2guardian not listening on {} after {} s; its output ends with:\n{}",
        config.listen,
        ready_timeout.as_secs(),
        child.stderr_tail(2000)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (Database, GroupPolicy) {
        let db = Database::parse(
            "games.test games\nkids.games.test education\nnews.test news\n\
             live.news.test streaming\nnews.test/casino gambling\ngames.test/learn education\n",
            "db",
        )
        .unwrap();
        let policy = GroupPolicy::parse(
            "[groups.s]\nblocked_categories = [\"games\", \"gambling\", \"streaming\"]\n\
             always_allow = [\"ok.test\"]\nalways_deny = [\"bad.test\"]\n",
            "p",
            "s",
        )
        .unwrap();
        (db, policy)
    }

    #[test]
    fn lists_follow_the_most_specific_rule_of_the_group() {
        let (db, policy) = demo();
        let lists = Lists::derive(&db, &policy);
        assert_eq!(lists.banned_sites["games"], ["games.test"]);
        assert_eq!(lists.banned_sites["streaming"], ["live.news.test"]);
        assert_eq!(lists.banned_sites[DENY_LIST_CATEGORY], ["bad.test"]);
        assert_eq!(lists.banned_urls["gambling"], ["news.test/casino"]);
        // Allowed rules only become exceptions under a blocked domain.
        assert_eq!(lists.exception_sites, ["kids.games.test", "ok.test"]);
        assert_eq!(lists.exception_urls, ["games.test/learn"]);
        assert!(!lists.banned_sites.contains_key("news"));
    }

    #[test]
    fn a_path_with_capitals_gets_a_lowercase_alias_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("Run");
        let alias = LowercasePath::for_dir(&upper).unwrap();
        let text = alias.path().to_string_lossy().into_owned();
        assert_eq!(text, text.to_lowercase());
        std::fs::write(alias.path().join("f"), "x").unwrap();
        assert_eq!(std::fs::read_to_string(upper.join("f")).unwrap(), "x");
        let link = alias.path().to_path_buf();
        drop(alias);
        assert!(!link.exists() || link == std::fs::canonicalize(&upper).unwrap());
        assert!(upper.join("f").exists(), "only the alias goes");
    }

    #[test]
    fn keys_are_set_once_whether_present_commented_or_absent() {
        let text = "filterports = 8080\n#proxyip = 127.0.0.1\nx = 1\nfilterports = 9\n";
        let t = set_key(text, "filterports", "3129");
        let t = set_key(&t, "proxyip", "127.0.0.2");
        let t = set_key(&t, "nodaemon", "on");
        assert_eq!(
            t,
            "filterports = 3129\nproxyip = 127.0.0.2\nx = 1\n#filterports = 9\nnodaemon = on\n"
        );
        assert_eq!(
            comment_out("icapport = 1\n icapportx = 2\n", "icapport"),
            "#icapport = 1\n icapportx = 2\n"
        );
    }

    #[test]
    fn the_config_is_written_from_a_template_with_paths_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("template");
        std::fs::create_dir_all(template.join("languages/ukenglish")).unwrap();
        std::fs::create_dir_all(template.join("lists")).unwrap();
        let t = template.display().to_string();
        std::fs::write(
            template.join("e2guardian.conf"),
            format!("filterports = 8080\ntransparenthttpsport = 8443\npreauthstoryboard = '{t}/preauth.story'\n"),
        )
        .unwrap();
        std::fs::write(
            template.join("e2guardianf1.conf"),
            format!("storyboard = '{t}/f1.story'\n"),
        )
        .unwrap();
        let (db, policy) = demo();
        let out = dir.path().join("run");
        let listen: SocketAddr = "127.0.0.1:4001".parse().unwrap();
        let parent: SocketAddr = "127.0.0.1:4002".parse().unwrap();
        let cfg = write_config(
            &template,
            &out,
            listen,
            parent,
            &Lists::derive(&db, &policy),
        )
        .unwrap();
        let conf = std::fs::read_to_string(&cfg.conf).unwrap();
        assert!(
            conf.contains("filterports = 4001\n") && conf.contains("proxyport = 4002\n"),
            "{conf}"
        );
        assert!(conf.contains("#transparenthttpsport"), "{conf}");
        assert!(
            !conf.contains(&format!("{t}/")),
            "template path left in: {conf}"
        );
        let f1 = std::fs::read_to_string(out.join("etc/e2guardianf1.conf")).unwrap();
        assert!(
            f1.contains(&out.join("etc/f1.story").display().to_string()),
            "{f1}"
        );
        let banned = std::fs::read_to_string(out.join("etc/lists/bannedsitelist")).unwrap();
        assert!(
            banned.contains(".Include<") && banned.contains("bannedsitelist-games>"),
            "{banned}"
        );
        let games =
            std::fs::read_to_string(out.join("etc/lists/parity/bannedsitelist-games")).unwrap();
        assert_eq!(games, "#listcategory: \"games\"\ngames.test\n");
        let page =
            std::fs::read_to_string(out.join("etc/languages/ukenglish/template.html")).unwrap();
        assert!(page.contains(E2G_BLOCK_MARKER));
        // A missing template is a clear error naming the install command.
        let err = write_config(
            &dir.path().join("nope"),
            &out,
            listen,
            parent,
            &Lists::default(),
        );
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("apt-get install -y e2guardian"));
    }
}
