//! `metrics` frames read in place: every string borrowed from the frame's
//! text, so applying a series the store already knows allocates nothing.
//! The field names are the `wire` crate's, the ones its derived reader
//! and the server's writer use.
//! These frames are nearly all of `mon top`'s traffic (one per host per
//! interval); the rest goes through [`super::parse`], which also takes the
//! frames this reader cannot borrow from.

use serde::Deserialize;
use wire::metrics::field;

use crate::state::ValueRef;

/// A `metrics` frame read in place: the host, the time and the values,
/// every string borrowed from the frame's text.
#[derive(Debug)]
pub struct MetricsRef<'a> {
    pub host: &'a str,
    pub ts_ms: i64,
    /// (name, where its labels are in `pairs`, value)
    values: Vec<(&'a str, std::ops::Range<usize>, f64)>,
    pairs: Vec<(&'a str, &'a str)>,
}

impl MetricsRef<'_> {
    pub fn values(&self) -> impl Iterator<Item = ValueRef<'_>> {
        self.values.iter().map(|(name, labels, value)| ValueRef {
            name,
            labels: &self.pairs[labels.clone()],
            value: *value,
        })
    }
}

/// Reads a `metrics` frame without copying its strings. A frame this cannot
/// borrow from (a string with escapes in it) or does not understand is an
/// error: [`super::parse`] then reads it, or says what is wrong with it.
pub fn read_metrics(text: &str) -> Result<MetricsRef<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

impl<'de> Deserialize<'de> for MetricsRef<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IgnoredAny, MapAccess, Visitor};
        struct Frame;
        impl<'de> Visitor<'de> for Frame {
            type Value = MetricsRef<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a metrics frame")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut host, mut ts) = (None, None);
                let mut values = Vec::new();
                let mut pairs = Vec::new();
                let mut read_values = false;
                while let Some(key) = map.next_key::<&str>()? {
                    match key {
                        field::HOST if host.is_none() => host = Some(map.next_value::<&str>()?),
                        field::TS if ts.is_none() => ts = Some(map.next_value::<i64>()?),
                        field::VALUES if !read_values => {
                            read_values = true;
                            map.next_value_seed(ValuesSeed {
                                values: &mut values,
                                pairs: &mut pairs,
                            })?
                        }
                        field::HOST | field::TS | field::VALUES => {
                            return Err(A::Error::custom("a repeated field"));
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(MetricsRef {
                    host: host.ok_or_else(|| A::Error::missing_field(field::HOST))?,
                    ts_ms: ts.ok_or_else(|| A::Error::missing_field(field::TS))?,
                    values,
                    pairs,
                })
            }
        }
        d.deserialize_map(Frame)
    }
}

/// The `values` array, each value appended as it is read.
struct ValuesSeed<'v, 'de> {
    values: &'v mut Vec<(&'de str, std::ops::Range<usize>, f64)>,
    pairs: &'v mut Vec<(&'de str, &'de str)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ValuesSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ValuesSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of values")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // An agent sends a few dozen values; one allocation, not five.
        self.values.reserve(32);
        while seq
            .next_element_seed(ValueSeed {
                values: &mut *self.values,
                pairs: &mut *self.pairs,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One `{"name", "labels", "value"}` object.
struct ValueSeed<'v, 'de> {
    values: &'v mut Vec<(&'de str, std::ops::Range<usize>, f64)>,
    pairs: &'v mut Vec<(&'de str, &'de str)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ValueSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ValueSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a value object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::{Error, IgnoredAny};
        let (mut name, mut value) = (None, None);
        let start = self.pairs.len();
        let mut labelled = false;
        while let Some(key) = map.next_key::<&str>()? {
            match key {
                field::NAME if name.is_none() => name = Some(map.next_value::<&str>()?),
                field::VALUE if value.is_none() => value = Some(map.next_value::<f64>()?),
                field::LABELS if !labelled => {
                    labelled = true;
                    map.next_value_seed(LabelsSeed {
                        pairs: &mut *self.pairs,
                    })?;
                }
                field::NAME | field::VALUE | field::LABELS => {
                    return Err(A::Error::custom("a repeated field"));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let labels = &mut self.pairs[start..];
        // Servers send the names sorted; the store relies on it.
        if !labels.is_sorted() {
            labels.sort();
        }
        self.values.push((
            name.ok_or_else(|| A::Error::missing_field(field::NAME))?,
            start..self.pairs.len(),
            value.ok_or_else(|| A::Error::missing_field(field::VALUE))?,
        ));
        Ok(())
    }
}

/// A label object, its pairs appended.
struct LabelsSeed<'v, 'de> {
    pairs: &'v mut Vec<(&'de str, &'de str)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for LabelsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for LabelsSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of label names to values")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let start = self.pairs.len();
        while let Some((k, v)) = map.next_entry::<&str, &str>()? {
            // A repeated name keeps its last value, as a map would.
            match self.pairs[start..].iter_mut().find(|(name, _)| *name == k) {
                Some(pair) => pair.1 = v,
                None => self.pairs.push((k, v)),
            }
        }
        Ok(())
    }
}
