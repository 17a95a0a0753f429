//! `latchkey rotate-master-key` and the server's side of it: watching the master key file
//! and loading a changed keyring without a restart. The sequence and why it is safe with
//! several instances: docs/design/master-key-rotation.md.
//!
//! The key file is the keyring's text form: one key per line, the primary first. The
//! command notes on a key's line what it is for: `staged` (known to every instance, not yet
//! sealing) or `retiring-since <time>` (the former primary, kept to open what was sealed
//! under it until it is retired).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, SubsecRound, Utc};
use latchkey_core::Directory;
use latchkey_core::rotation::{self, LONGEST_HANDED_OUT};
use latchkey_core::seal::{Keyring, MasterKey};
use zeroize::Zeroizing;

use crate::datadir::{self, MASTER_KEY_ENV, StoreLocation};

/// How often a serving instance looks at its key file.
pub const KEY_FILE_POLL: Duration = Duration::from_secs(1);

const STAGED: &str = "staged";
const RETIRING_SINCE: &str = "retiring-since";

/// Which part of a rotation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// Add a new key that every instance opens with but none seals with yet.
    Stage,
    /// Make the staged key the primary, then re-seal every stored secret under it.
    Promote,
    /// Re-seal every stored secret under the current primary.
    Reseal,
    /// Drop the former primary keys, once nothing stored is sealed under them.
    Retire,
}

/// One key of the key file, with what the command noted about it.
struct Entry {
    key: MasterKey,
    note: Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Note {
    None,
    Staged,
    RetiringSince(DateTime<Utc>),
}

fn parse_entries(text: &str) -> anyhow::Result<Vec<Entry>> {
    // The keyring reads the keys; this reads the notes beside them, entry by entry.
    Keyring::from_text(text).context("the master keys are not valid")?;
    let mut entries = Vec::new();
    for entry in text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(|line| line.split(','))
    {
        let mut words = entry.split_whitespace();
        let Some(key) = words.next() else { continue };
        let key = MasterKey::from_base64(key)?;
        let note = match (words.next(), words.next()) {
            (None, _) => Note::None,
            (Some(STAGED), None) => Note::Staged,
            (Some(RETIRING_SINCE), Some(at)) => Note::RetiringSince(
                DateTime::parse_from_rfc3339(at)
                    .with_context(|| format!("bad time {at:?} after {RETIRING_SINCE}"))?
                    .with_timezone(&Utc),
            ),
            (Some(other), _) => bail!("unknown note {other:?} after a master key"),
        };
        if !entries.iter().any(|e: &Entry| e.key.id() == key.id()) {
            entries.push(Entry { key, note });
        }
    }
    Ok(entries)
}

fn render(entries: &[Entry], separator: &str) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            text.push_str(separator);
        }
        text.push_str(&entry.key.to_base64());
        match &entry.note {
            Note::None => {}
            Note::Staged => text.push_str(&format!(" {STAGED}")),
            Note::RetiringSince(at) => text.push_str(&format!(
                " {RETIRING_SINCE} {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        }
    }
    text
}

fn keyring_of(entries: &[Entry]) -> Keyring {
    Keyring::new(entries.iter().map(|e| e.key.clone()).collect())
        .expect("a key file always names a key")
}

/// Where the keys come from, and where the new ones go.
enum Source {
    File(std::path::PathBuf),
    /// `LATCHKEY_MASTER_KEY`: the command prints the new value for the operator to deploy.
    Environment,
}

/// `latchkey rotate-master-key [--step STEP] [--force]`. Without a step, for the one
/// instance a SQLite store has, reading its own key file: a new primary, every stored
/// secret re-sealed under it, the former primary kept (retiring) for what was handed out
/// under it.
#[allow(clippy::print_stdout)]
pub fn rotate_command(
    data: &Path,
    store: &StoreLocation,
    step: Option<Step>,
    force: bool,
) -> anyhow::Result<()> {
    if force && step != Some(Step::Retire) {
        bail!("--force goes with --step retire only");
    }
    let (source, text) = match std::env::var(MASTER_KEY_ENV) {
        Ok(text) => (Source::Environment, Zeroizing::new(text)),
        Err(_) => {
            let path = datadir::master_key_path(data);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the master key {}", path.display()))?;
            (Source::File(path), Zeroizing::new(text))
        }
    };
    let mut entries = parse_entries(&text)?;
    let opened = datadir::open_store(data, store, false)?;
    // Nothing is written unless the keys at hand open what is stored.
    Directory::open(opened.clone(), keyring_of(&entries))
        .with_context(|| format!("cannot load the store {}", store.describe(data)))?;
    let now = Utc::now().trunc_subsecs(0);
    let staged = entries.iter().position(|e| e.note == Note::Staged);
    let mut reseal = false;
    match step {
        None | Some(Step::Stage) => {
            if staged.is_some() {
                bail!("a key is staged already: promote it with --step promote");
            }
            if step.is_none() && matches!(source, Source::Environment) {
                bail!(
                    "with {MASTER_KEY_ENV}, rotate in steps (--step stage, promote, retire): \
                     each prints the value to deploy to every instance"
                );
            }
            // Several instances may share PostgreSQL, each with its own copy of the key
            // file: every one must hold the new key before any seals with it.
            if step.is_none() && matches!(store, StoreLocation::Postgres(_)) {
                bail!(
                    "with PostgreSQL, rotate in steps (--step stage, promote, retire), copying \
                     the key file to every instance after each"
                );
            }
            let note = if step.is_none() {
                Note::None
            } else {
                Note::Staged
            };
            entries.insert(
                1,
                Entry {
                    key: MasterKey::generate(),
                    note,
                },
            );
            if step.is_none() {
                promote(&mut entries, 1, now);
                reseal = true;
            }
        }
        Some(Step::Promote) => {
            let Some(at) = staged else {
                bail!("no key is staged: run --step stage first");
            };
            promote(&mut entries, at, now);
            reseal = true;
        }
        Some(Step::Reseal) => reseal = true,
        Some(Step::Retire) => retire(&mut entries, &*opened, now, force)?,
    }
    let keyring = keyring_of(&entries);
    if let Source::File(path) = &source {
        datadir::write_private_file(path, render(&entries, "\n").as_bytes())?;
    }
    if reseal {
        // Not needed for correctness (an instance that follows re-sealed rows before it
        // loaded the new key keeps values it can open), but an instance serving from this
        // directory then has its MFA seeds current without another reload.
        if matches!(source, Source::File(_)) {
            std::thread::sleep(KEY_FILE_POLL * 2);
        }
        let count = rotation::reseal(&*opened, &keyring)
            .with_context(|| format!("cannot re-seal in {}", store.describe(data)))?;
        println!(
            "re-sealed {count} stored secrets under the primary key {}",
            keyring.primary().id()
        );
    }
    let ids: Vec<String> = entries
        .iter()
        .map(|e| format!("{} ({})", e.key.id(), describe(&e.note)))
        .collect();
    println!("master keys now: {}", ids.join(", "));
    match source {
        Source::File(path) => println!(
            "wrote {}; instances reading it load it within {}s. With several instances, \
             copy it to each before the next step.",
            path.display(),
            KEY_FILE_POLL.as_secs()
        ),
        Source::Environment => println!(
            "set {MASTER_KEY_ENV} on every instance to the line below and restart them one \
             at a time before the next step:\n{}",
            render(&entries, ", ").as_str()
        ),
    }
    Ok(())
}

fn describe(note: &Note) -> String {
    match note {
        Note::None => "primary".into(),
        Note::Staged => STAGED.into(),
        Note::RetiringSince(at) => format!("{RETIRING_SINCE} {}", at.to_rfc3339()),
    }
}

/// Moves the entry at `at` to the front as the primary; the former primary retires.
fn promote(entries: &mut Vec<Entry>, at: usize, now: DateTime<Utc>) {
    let mut promoted = entries.remove(at);
    promoted.note = Note::None;
    if let Some(former) = entries.first_mut()
        && former.note == Note::None
    {
        former.note = Note::RetiringSince(now);
    }
    entries.insert(0, promoted);
}

/// Drops the retiring keys once no stored value is sealed under them and (unless `force`)
/// everything handed out under them has expired.
fn retire(
    entries: &mut Vec<Entry>,
    store: &dyn latchkey_core::store::Store,
    now: DateTime<Utc>,
    force: bool,
) -> anyhow::Result<()> {
    let census = rotation::sealed_by_key(&store.load()?, &keyring_of(entries));
    let primary = entries[0].key.id();
    let elsewhere: usize = census
        .iter()
        .filter(|(id, _)| **id != Some(primary))
        .map(|(_, count)| count)
        .sum();
    if elsewhere > 0 {
        bail!(
            "{elsewhere} stored secrets are not sealed under the primary key yet (an instance \
             that had not loaded it wrote them): run --step reseal, then retire; nothing was changed"
        );
    }
    let retiring: Vec<DateTime<Utc>> = entries
        .iter()
        .filter_map(|e| match e.note {
            Note::RetiringSince(at) => Some(at),
            _ => None,
        })
        .collect();
    if retiring.is_empty() {
        bail!("no key is retiring; nothing was changed");
    }
    let latest = retiring.iter().max().copied().unwrap_or(now);
    if !force && now - latest < LONGEST_HANDED_OUT {
        bail!(
            "the former primary key stopped sealing at {latest}; credentials handed out under \
             it (STS session tokens up to 36 hours, SSO OIDC refresh tokens 7 days, client \
             registrations 90 days) work until {}. Retire it then, or now with --force, which \
             ends them; nothing was changed",
            latest + LONGEST_HANDED_OUT
        );
    }
    entries.retain(|e| !matches!(e.note, Note::RetiringSince(_)));
    Ok(())
}

/// Watches the key file of a serving instance and loads a changed keyring: the rotation
/// command writes it, or the operator copies it from the instance where it ran. A keyring
/// that does not open the store is refused (and logged); the current one stays.
pub fn watch_key_file(directory: &Arc<Directory>, data: &Path) {
    if datadir::master_key_from_env() {
        return;
    }
    let path = datadir::master_key_path(data);
    let directory = directory.clone();
    let spawned = std::thread::Builder::new()
        .name("latchkey-keyring".into())
        .spawn(move || {
            let mut last_error = String::new();
            loop {
                std::thread::sleep(KEY_FILE_POLL);
                let loaded = std::fs::read_to_string(&path)
                    .map_err(anyhow::Error::from)
                    .and_then(|text| Ok(Keyring::from_text(&text)?));
                let outcome = match loaded {
                    Ok(keyring) if keyring.ids() == directory.keyring_ids() => Ok(()),
                    Ok(keyring) => {
                        let ids: Vec<String> =
                            keyring.ids().iter().map(ToString::to_string).collect();
                        directory
                            .load_keyring(keyring)
                            .map(|()| tracing::info!(keys = %ids.join(","), "loaded the master keys"))
                            .map_err(anyhow::Error::from)
                    }
                    Err(error) => Err(error),
                };
                match outcome {
                    Ok(()) => last_error.clear(),
                    Err(error) => {
                        let text = format!("{error:#}");
                        if text != last_error {
                            tracing::error!(error = %text, file = %path.display(), "cannot load the master key file; keeping the current keys");
                            last_error = text;
                        }
                    }
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot watch the master key file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_notes_round_trip_and_promotion_retires_the_primary() {
        let (old, staged) = (MasterKey::generate(), MasterKey::generate());
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut entries = vec![
            Entry {
                key: old.clone(),
                note: Note::None,
            },
            Entry {
                key: staged.clone(),
                note: Note::Staged,
            },
        ];
        let text = render(&entries, "\n");
        let parsed = parse_entries(&text).unwrap();
        assert_eq!(parsed[1].note, Note::Staged);
        // The keyring reads the same keys, ignoring the notes.
        assert_eq!(
            Keyring::from_text(&text).unwrap().ids(),
            vec![old.id(), staged.id()]
        );

        promote(&mut entries, 1, at);
        assert_eq!(entries[0].key.id(), staged.id());
        assert_eq!(entries[0].note, Note::None);
        assert_eq!(entries[1].note, Note::RetiringSince(at));
        let again = parse_entries(&render(&entries, ", ")).unwrap();
        assert_eq!(again[1].note, Note::RetiringSince(at));
        assert!(parse_entries(&format!("{} sideways", old.to_base64().as_str())).is_err());
    }
}
