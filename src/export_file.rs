//! The export file: JSON lines, a header `{"twofold_export":1,...}`, one
//! store record a line, and an end line `{"twofold_export_end":N}` counting
//! them. Written to a private temporary file renamed into place when whole;
//! read back line by line, so an import stops (writing nothing) at the first
//! line that is cut short, edited out of shape or miscounted.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

use crate::auth::clock::iso8601;
use crate::model::Timestamp;
use crate::store::{ExportRecord, ExportSink, ExportSource, RecordSource, TransferStore};

/// The format version in the header; a reader refuses any other.
pub const FORMAT_VERSION: u64 = 1;
/// A line longer than this is not one twofold wrote.
const MAX_LINE: u64 = 1024 * 1024;

/// How many records of each kind an export wrote or an import read: what
/// the audit trail says moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub records: u64,
    pub users: u64,
    pub devices: u64,
    pub recovery_codes: u64,
    pub audit_events: u64,
}

impl RecordCounts {
    fn count(&mut self, record: &ExportRecord) {
        self.records += 1;
        match record {
            ExportRecord::User(_) => self.users += 1,
            ExportRecord::Device(_) => self.devices += 1,
            ExportRecord::RecoveryCode(_) => self.recovery_codes += 1,
            ExportRecord::AuditEvent(_) => self.audit_events += 1,
            // Counted in `records` only: the audit detail names the kinds that hold people's data.
            ExportRecord::SealedCanary(_)
            | ExportRecord::SealedRecoveryKey(_)
            | ExportRecord::Group(_)
            | ExportRecord::Policy(_)
            | ExportRecord::GroupMember(_)
            | ExportRecord::PolicyAttachment(_)
            | ExportRecord::AccessKey(_)
            | ExportRecord::Role(_)
            | ExportRecord::RolePolicy(_)
            | ExportRecord::RoleTrust(_)
            | ExportRecord::OidcSigningKey(_)
            | ExportRecord::OidcSubject(_)
            | ExportRecord::OidcConsent(_) => {}
        }
    }

    /// The counts as an audit event's detail.
    pub fn detail(&self) -> String {
        format!(
            "records={}; users={}; devices={}; recovery_codes={}; audit_events={}",
            self.records, self.users, self.devices, self.recovery_codes, self.audit_events
        )
    }
}

/// Exports every record of `store` to `path`, replacing it only once the
/// whole file (with its end line) is on disk. Returns what it wrote.
pub async fn export_to(
    store: &dyn TransferStore,
    path: &Path,
    now: Timestamp,
) -> anyhow::Result<RecordCounts> {
    let partial = partial_path(path);
    let file = create_private(&partial)?;
    let mut sink = FileSink {
        out: BufWriter::new(file),
        now,
        counts: RecordCounts::default(),
    };
    let written = async {
        let records = store.export_records(&mut sink).await?;
        writeln!(sink.out, "{}", json!({ "twofold_export_end": records }))?;
        let file = sink.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, path)?;
        anyhow::Ok(sink.counts)
    }
    .await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.with_context(|| format!("exporting to {}", path.display()))
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

/// The file holds password hashes and sealed seeds: its owner only reads it.
fn create_private(path: &Path) -> anyhow::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// The first line; `twofold_export` first, as the contract shows it.
#[derive(serde::Serialize)]
struct Header {
    twofold_export: u64,
    exported_at: String,
    /// The store it came from (`sqlite` or `postgres`) and its schema.
    backend: &'static str,
    schema_version: i64,
    twofold_version: &'static str,
}

struct FileSink {
    out: BufWriter<File>,
    now: Timestamp,
    counts: RecordCounts,
}

impl ExportSink for FileSink {
    fn begin(&mut self, source: &ExportSource) -> anyhow::Result<()> {
        let header = Header {
            twofold_export: FORMAT_VERSION,
            exported_at: iso8601(self.now),
            backend: source.backend,
            schema_version: source.schema_version,
            twofold_version: env!("CARGO_PKG_VERSION"),
        };
        serde_json::to_writer(&mut self.out, &header)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    fn record(&mut self, record: ExportRecord) -> anyhow::Result<()> {
        self.counts.count(&record);
        serde_json::to_writer(&mut self.out, &record)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }
}

/// Opens an export file and checks its header; the records are then read
/// as the import needs them, and the last item is an error unless the file
/// ends with an end line that counts them. The counts grow as the records
/// are read: once an import has taken them all, they are what it loaded.
pub fn read_records(path: &Path) -> anyhow::Result<(RecordSource, Arc<Mutex<RecordCounts>>)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut lines = Lines {
        reader: BufReader::new(file),
        number: 0,
    };
    let not_export = || anyhow!("{} is not a twofold export", path.display());
    let header = lines.next_line()?.ok_or_else(not_export)?;
    let header: Value = serde_json::from_str(&header).map_err(|_| not_export())?;
    match header.get("twofold_export").and_then(Value::as_u64) {
        Some(FORMAT_VERSION) => {}
        Some(other) => bail!(
            "{} is a twofold export of format {other}; this twofold reads format {FORMAT_VERSION}",
            path.display()
        ),
        None => return Err(not_export()),
    }
    let counts = Arc::new(Mutex::new(RecordCounts::default()));
    let source = Box::new(RecordsOf {
        lines,
        records: 0,
        done: false,
        counts: Arc::clone(&counts),
    });
    Ok((source, counts))
}

struct Lines {
    reader: BufReader<File>,
    /// The number of the last line read (the header is line 1).
    number: u64,
}

impl Lines {
    /// The next line without its line ending; `None` at the end of the file.
    fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        let mut line = String::new();
        let read = (&mut self.reader)
            .take(MAX_LINE)
            .read_line(&mut line)
            .with_context(|| format!("reading line {}", self.number + 1))?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if !line.ends_with('\n') {
            bail!(
                "line {} is cut short (or too long): the file is truncated or was edited",
                self.number
            );
        }
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
        Ok(Some(line))
    }
}

struct RecordsOf {
    lines: Lines,
    records: u64,
    done: bool,
    counts: Arc<Mutex<RecordCounts>>,
}

impl RecordsOf {
    fn next_record(&mut self) -> anyhow::Result<Option<ExportRecord>> {
        let Some(line) = self.lines.next_line()? else {
            bail!(
                "the file ends after {} records without its end line \
                 ({{\"twofold_export_end\":N}}): it is truncated",
                self.records
            );
        };
        let number = self.lines.number;
        let value: Value = serde_json::from_str(&line).with_context(|| {
            format!("line {number} is not JSON: the file was damaged or edited")
        })?;
        if let Some(end) = value.get("twofold_export_end") {
            let expected = end
                .as_u64()
                .ok_or_else(|| anyhow!("line {number}: the end line's count is not a number"))?;
            if expected != self.records {
                bail!(
                    "the end line counts {expected} records but the file holds {}: \
                     records were removed or added",
                    self.records
                );
            }
            if self.lines.next_line()?.is_some() {
                bail!("line {}: the file goes on after its end line", number + 1);
            }
            return Ok(None);
        }
        let record = serde_json::from_value(value)
            .with_context(|| format!("line {number} is not a twofold record"))?;
        self.records += 1;
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .count(&record);
        Ok(Some(record))
    }
}

impl Iterator for RecordsOf {
    type Item = anyhow::Result<ExportRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_record();
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}
