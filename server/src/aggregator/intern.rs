//! The stream's table of interned series (ingest protocol 2).
//!
//! An agent defines each series once per stream (`Report.defs`: a
//! stream-local id, a name, labels) and then sends only ids and values. The
//! table checks a definition once — names, label count and lengths, the
//! unit its name implies — and keeps the resulting [`SeriesKey`], so a
//! sample of a known series costs an index into a vector, a check of its
//! value and a reference count: no string is decoded, validated, hashed or
//! copied per sample. It is the idea of Prometheus remote-write 2.0's symbol
//! table, kept for the life of a stream instead of one request.
//!
//! Ids are dense (the agent numbers from 0), so the table is a vector,
//! bounded by `--max-series-per-stream`. Every way a reference can be bad
//! (an id never defined, one defined twice, past the table's bound, or
//! whose definition was refused) is answered per sample with its reason;
//! the samples of the same report that are good are kept.

use super::Limits;
use super::validate::{Unit, check_series};
use crate::model::SeriesKey;
use crate::proto;

/// One id's entry.
#[derive(Clone, Debug)]
enum Slot {
    /// Never defined on this stream.
    Free,
    /// A checked definition.
    Series { key: SeriesKey, unit: Unit },
    /// The definition was refused; its samples are, with this reason.
    Refused(String),
}

/// The series a stream has defined, by their stream-local id.
#[derive(Debug)]
pub struct StreamTable {
    slots: Vec<Slot>,
    cap: usize,
}

/// What a reference resolved to.
pub enum Resolved<'a> {
    Series(&'a SeriesKey, Unit),
    Bad(String),
}

impl StreamTable {
    /// An empty table that holds ids below `cap`.
    pub fn new(cap: usize) -> Self {
        Self {
            slots: Vec::new(),
            cap,
        }
    }

    /// Takes the definitions of one report, in order. A definition that is
    /// refused is remembered with its reason, so each later sample of that
    /// id says why it is not stored; an id defined twice is refused from
    /// then on (its samples could mean either series).
    pub fn define(&mut self, defs: Vec<proto::SeriesDef>, limits: &Limits) {
        for def in defs {
            let id = def.id as usize;
            if id >= self.cap {
                // Nothing is kept for it: its references say why.
                continue;
            }
            if self.slots.len() <= id {
                self.slots.resize(id + 1, Slot::Free);
            }
            let slot = &mut self.slots[id];
            *slot = match slot {
                Slot::Free => match check_series(def.name, def.labels, limits) {
                    Ok((key, unit)) => Slot::Series { key, unit },
                    Err((series, reason)) => {
                        Slot::Refused(format!("series id {id} ({series}) was refused: {reason}"))
                    }
                },
                Slot::Series { key, .. } => Slot::Refused(format!(
                    "series id {id} was defined twice on this stream (first as {key}); \
                     an id keeps its first definition for the whole stream, so its samples are refused"
                )),
                Slot::Refused(reason) => Slot::Refused(std::mem::take(reason)),
            };
        }
    }

    /// What id `id` stands for.
    pub fn resolve(&self, id: u32) -> Resolved<'_> {
        match self.slots.get(id as usize) {
            Some(Slot::Series { key, unit }) => Resolved::Series(key, *unit),
            Some(Slot::Refused(reason)) => Resolved::Bad(reason.clone()),
            _ if id as usize >= self.cap => Resolved::Bad(format!(
                "series id {id} is past this stream's table of {} series \
                 (--max-series-per-stream on the aggregator); define fewer series per stream",
                self.cap
            )),
            _ => Resolved::Bad(format!(
                "series id {id} is not defined on this stream; \
                 define a series in a report's defs before referring to it, again on every new stream"
            )),
        }
    }
}
