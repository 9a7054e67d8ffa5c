//! The object's SQLite storage: the schema, what a restart reads back, and the core's writes.
//!
//! Only what must survive is stored: session rows (written on joins, room moves and ends;
//! heartbeats write nothing), entities' last-seen times, and the visitor-hash salt.

use std::cell::Cell;

use serde::Deserialize;
use worker::{Result, SqlCursor, SqlStorage, SqlStorageValue};

use crate::presence::{Millis, StoredSession, Write};
use crate::visitor::{from_hex, to_hex};

pub struct Storage {
    sql: SqlStorage,
    /// Rows written since this instance started, from the SQL cursors (for the bench).
    rows_written: Cell<u64>,
}

#[derive(Deserialize)]
struct SessionRow {
    id: String,
    room: String,
    visitor: String,
    entity: Option<String>,
    entity_last_seen: Option<f64>,
    joined_at: f64,
    restored_at: Option<f64>,
}

#[derive(Deserialize)]
struct LastSeenRow {
    last_seen: f64,
}

#[derive(Deserialize)]
struct MetaRow {
    value: String,
}

fn millis(t: Millis) -> SqlStorageValue {
    SqlStorageValue::Float(t as f64)
}

impl Storage {
    /// Opens the storage and brings its schema up to date.
    pub fn open(sql: SqlStorage) -> Result<Storage> {
        let s = Storage {
            sql,
            rows_written: Cell::new(0),
        };
        s.exec(
            "CREATE TABLE IF NOT EXISTS sessions (
                id TEXT PRIMARY KEY,
                room TEXT NOT NULL,
                visitor TEXT NOT NULL,
                joined_at INTEGER NOT NULL,
                restored_at INTEGER
            )",
            vec![],
        )?;
        // Sessions stored before entities existed get the column (an error means it is there).
        let _ = s
            .sql
            .exec("ALTER TABLE sessions ADD COLUMN entity TEXT", None);
        s.exec(
            "CREATE TABLE IF NOT EXISTS entities (id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL)",
            vec![],
        )?;
        s.exec(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            vec![],
        )?;
        Ok(s)
    }

    fn exec(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<SqlCursor> {
        let cursor = self.sql.exec(query, Some(bindings))?;
        self.rows_written
            .set(self.rows_written.get() + cursor.rows_written() as u64);
        Ok(cursor)
    }

    #[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
    pub fn rows_written(&self) -> u64 {
        self.rows_written.get()
    }

    /// The site's salt for visitor hashes, made once (from `fresh`) and kept.
    pub fn salt(&self, fresh: impl FnOnce() -> String) -> Result<Vec<u8>> {
        let rows: Vec<MetaRow> = self
            .exec("SELECT value FROM meta WHERE key = 'salt'", vec![])?
            .to_array()?;
        if let Some(r) = rows.first() {
            return Ok(r.value.as_bytes().to_vec());
        }
        let salt = fresh();
        self.exec(
            "INSERT INTO meta (key, value) VALUES ('salt', ?)",
            vec![salt.as_str().into()],
        )?;
        Ok(salt.into_bytes())
    }

    /// Every stored session, with its entity's last-seen time.
    pub fn sessions(&self) -> Result<Vec<StoredSession>> {
        let rows: Vec<SessionRow> = self
            .exec(
                "SELECT s.id, s.room, s.visitor, s.entity, s.joined_at, s.restored_at,
                        e.last_seen AS entity_last_seen
                 FROM sessions s LEFT JOIN entities e ON e.id = s.entity",
                vec![],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(StoredSession {
                    visitor: from_hex(&r.visitor)?,
                    entity: r.entity,
                    entity_last_seen: r.entity_last_seen.map(|t| t as Millis),
                    session: r.id,
                    room: r.room,
                    joined_at: r.joined_at as Millis,
                    restored_at: r.restored_at.map(|t| t as Millis),
                })
            })
            .collect())
    }

    /// An entity's stored last sign of life (for entities not online).
    pub fn last_seen(&self, entity: &str) -> Result<Option<Millis>> {
        let rows: Vec<LastSeenRow> = self
            .exec(
                "SELECT last_seen FROM entities WHERE id = ?",
                vec![entity.into()],
            )?
            .to_array()?;
        Ok(rows.first().map(|r| r.last_seen as Millis))
    }

    /// Carries out the core's writes, in order.
    pub fn apply(&self, writes: Vec<Write>) -> Result<()> {
        for w in writes {
            match w {
                Write::Upsert {
                    session,
                    room,
                    visitor,
                    entity,
                    joined_at,
                } => {
                    self.exec(
                        "INSERT OR REPLACE INTO sessions
                           (id, room, visitor, entity, joined_at, restored_at)
                         VALUES (?, ?, ?, ?, ?, NULL)",
                        vec![
                            session.into(),
                            room.into(),
                            to_hex(visitor).into(),
                            entity.map_or(SqlStorageValue::Null, SqlStorageValue::from),
                            millis(joined_at),
                        ],
                    )?;
                }
                Write::Delete { session } => {
                    self.exec("DELETE FROM sessions WHERE id = ?", vec![session.into()])?;
                }
                Write::Confirm { session } => {
                    self.exec(
                        "UPDATE sessions SET restored_at = NULL WHERE id = ?",
                        vec![session.into()],
                    )?;
                }
                Write::MarkRestored { at, sessions } => {
                    for s in sessions {
                        self.exec(
                            "UPDATE sessions SET restored_at = ? WHERE id = ?",
                            vec![millis(at), s.into()],
                        )?;
                    }
                }
                Write::EntitySeen { entity, last_seen } => {
                    self.exec(
                        "INSERT INTO entities (id, last_seen) VALUES (?, ?)
                         ON CONFLICT (id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
                        vec![entity.into(), millis(last_seen)],
                    )?;
                }
            }
        }
        Ok(())
    }
}
