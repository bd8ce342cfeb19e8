//! The exact tier of the answer cache: keys, TTL and LRU, as pure state.
//!
//! An entry lives in a *scope*: one tenant plus one *context* (namespace,
//! model or routing tier, system prompt, generation parameters), identified by
//! a SHA-256 digest of the context. Within a scope an entry is keyed by the
//! SHA-256 of its normalised prompt. The tenant is never hashed: scopes are
//! interned on the exact tenant string, so two tenants can never share a
//! scope, even if every digest collided (a test forces that).
//!
//! The cache itself does no I/O and reads no clock: the caller passes `now`
//! (seconds, any epoch) to every call that needs it, so TTL behaviour is a
//! pure function of the calls (tests drive a fake clock, no sleeps).
//!
//! Entry ids are never reused. The semantic tier (faiss, in Python) indexes
//! entries by id, so an id that outlived its entry can only ever miss: it can
//! never alias a newer entry.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use sha2::{Digest as _, Sha256};

use crate::error::CoreError;

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The exact tier's key text: the prompt with its line endings made `\n` and
/// leading and trailing whitespace trimmed; nothing else. Case, interior
/// whitespace and punctuation can carry meaning (`'Hello' == 'hello'` in
/// Python, indentation in code, `"3.5"` vs `"35"`), so near variants are left
/// to the semantic tier, whose guards compare them.
///
/// ```
/// use learned_router_core::cache::normalise_prompt;
/// assert_eq!(normalise_prompt("  What is\r\n 2+2? "), "What is\n 2+2?");
/// ```
pub fn normalise_prompt(prompt: &str) -> String {
    // Whitespace as Python's `str.strip()` sees it: Unicode White_Space plus
    // the ASCII information separators U+001C..U+001F.
    let is_space = |c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c);
    prompt
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim_matches(is_space)
        .to_string()
}

/// SHA-256 of the normalised prompt: the key of an entry within its scope.
pub fn prompt_digest(prompt: &str) -> Digest {
    Sha256::digest(normalise_prompt(prompt).as_bytes()).into()
}

/// Everything besides the prompt and the tenant that changes the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    /// A caller-chosen partition with its own TTL (`"default"` unless set).
    pub namespace: &'a str,
    /// The model or routing tier asked for; `None` when the router chooses.
    pub model: Option<&'a str>,
    /// The system prompt, compared exactly (not normalised).
    pub system_prompt: Option<&'a str>,
    /// Generation parameters as canonical JSON (sorted keys, no spaces).
    pub params: &'a str,
}

/// SHA-256 over the context's fields, each tagged and length-prefixed so that
/// no two different contexts can produce the same byte stream (`model=None`
/// differs from `model=""`; field boundaries cannot shift).
pub fn context_digest(context: &Context<'_>) -> Digest {
    fn field(hasher: &mut Sha256, value: Option<&str>) {
        match value {
            None => hasher.update([0u8]),
            Some(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(b"learned-router/cache-context/v1");
    field(&mut hasher, Some(context.namespace));
    field(&mut hasher, context.model);
    field(&mut hasher, context.system_prompt);
    field(&mut hasher, Some(context.params));
    hasher.finalize().into()
}

/// Who an entry belongs to and under which context it was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub tenant: String,
    pub namespace: String,
    pub model: Option<String>,
    pub context: Digest,
}

/// Why an entry left the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RemovalReason {
    /// A newer answer was stored under the same key.
    Replaced = 0,
    /// The cache was full and this was the least recently used entry.
    Evicted = 1,
    /// Its TTL ran out.
    Expired = 2,
    /// Removed on request (by id, key, tenant, model, namespace or all).
    Invalidated = 3,
}

/// An entry that left the cache; the semantic tier drops its vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub id: u64,
    pub scope: u32,
    pub reason: RemovalReason,
}

/// The data stored with an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// The text the semantic tier matched on (guards compare against it).
    pub key_text: String,
    pub response: String,
    /// What producing the response cost: what a hit on it avoids.
    pub cost_usd: f64,
    pub created_at: f64,
    /// `f64::INFINITY` for an entry that never expires.
    pub expires_at: f64,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub scope: u32,
    pub prompt: Digest,
    pub data: NewEntry,
    /// Neighbours in the LRU list (towards the most / least recent end).
    newer: Option<u64>,
    older: Option<u64>,
}

/// Event counts since the cache was created (or restored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub inserts: u64,
    pub replaced: u64,
    pub evicted: u64,
    pub expired: u64,
    pub invalidated: u64,
}

/// Filter for [`ExactCache::remove_matching`]; `None` fields match anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selector<'a> {
    pub tenant: Option<&'a str>,
    pub model: Option<&'a str>,
    pub namespace: Option<&'a str>,
}

/// `f64` with the total order, for the expiry index.
#[derive(Debug, Clone, Copy)]
struct Deadline(f64);

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Everything needed to rebuild a cache: what [`ExactCache::export`] returns
/// and [`ExactCache::restore`] takes. Entries are in LRU order, least recently
/// used first, so a restored cache evicts in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub max_entries: usize,
    pub next_id: u64,
    pub scopes: Vec<Scope>,
    pub entries: Vec<(u64, u32, Digest, NewEntry)>,
}

/// The exact tier: entries by (scope, prompt digest), with TTL and an LRU
/// bound on the number of entries.
///
/// Not synchronised itself; the Python binding wraps it in a mutex.
///
/// ```
/// use learned_router_core::cache::{prompt_digest, Context, ExactCache, NewEntry, context_digest};
/// let mut cache = ExactCache::new(100).unwrap();
/// let ctx = Context { namespace: "default", model: Some("gpt-4o"), system_prompt: None, params: "{}" };
/// let scope = cache.scope("acme", "default", Some("gpt-4o"), context_digest(&ctx));
/// let entry = NewEntry {
///     key_text: "what is 2+2".into(), response: "4".into(), cost_usd: 0.001,
///     created_at: 0.0, expires_at: f64::INFINITY,
/// };
/// let (id, _removed) = cache.insert(scope, prompt_digest("What is 2+2?"), entry, 0.0).unwrap();
/// let hit = cache.get(scope, &prompt_digest(" What is 2+2?\n"), 1.0).unwrap();
/// assert_eq!((hit.id, hit.data.response.as_str()), (id, "4"));
/// ```
#[derive(Debug, Clone)]
pub struct ExactCache {
    max_entries: usize,
    next_id: u64,
    scopes: Vec<Scope>,
    scope_ids: HashMap<(String, Digest), u32>,
    entries: HashMap<u64, Entry>,
    by_key: HashMap<(u32, Digest), u64>,
    /// Most and least recently used entry ids.
    newest: Option<u64>,
    oldest: Option<u64>,
    deadlines: BTreeSet<(Deadline, u64)>,
    counters: Counters,
    /// Whether the tables were sized for churn (see `size_for_churn`).
    sized_for_churn: bool,
}

fn check_time(argument: &'static str, value: f64) -> Result<(), CoreError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(CoreError::invalid(
            argument,
            format!("got {value}; times must be finite seconds"),
        ))
    }
}

impl ExactCache {
    /// An empty cache holding at most `max_entries` entries (>= 1).
    pub fn new(max_entries: usize) -> Result<Self, CoreError> {
        if max_entries == 0 {
            return Err(CoreError::invalid(
                "max_entries",
                "got 0; a cache must hold at least one entry",
            ));
        }
        Ok(Self {
            max_entries,
            next_id: 1,
            scopes: Vec::new(),
            scope_ids: HashMap::new(),
            entries: HashMap::new(),
            by_key: HashMap::new(),
            newest: None,
            oldest: None,
            deadlines: BTreeSet::new(),
            counters: Counters::default(),
            sized_for_churn: false,
        })
    }

    /// Once the cache is full, every insert evicts: removals leave tombstones,
    /// and a hash table above half load that runs out of free slots doubles
    /// (hashbrown rehashes in place only below half load). That one doubling
    /// came ~40k requests after the gateway's cache filled (+31 MB RSS at
    /// 100k entries). Sizing both tables for twice `max_entries` when the cache
    /// first fills keeps every later rehash in place: memory is flat from then on.
    fn size_for_churn(&mut self) {
        if self.sized_for_churn || self.entries.len() <= self.max_entries {
            return;
        }
        self.sized_for_churn = true;
        let want = 2 * (self.max_entries + 1);
        self.entries
            .reserve(want.saturating_sub(self.entries.len()));
        self.by_key.reserve(want.saturating_sub(self.by_key.len()));
    }

    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// The scope id of (tenant, context), creating it on first use.
    pub fn scope(
        &mut self,
        tenant: &str,
        namespace: &str,
        model: Option<&str>,
        context: Digest,
    ) -> u32 {
        if let Some(&id) = self.scope_ids.get(&(tenant.to_owned(), context)) {
            return id;
        }
        let id = self.scopes.len() as u32;
        self.scopes.push(Scope {
            tenant: tenant.to_owned(),
            namespace: namespace.to_owned(),
            model: model.map(str::to_owned),
            context,
        });
        self.scope_ids.insert((tenant.to_owned(), context), id);
        id
    }

    /// The scope id of (tenant, context) if anything was ever stored there.
    pub fn find_scope(&self, tenant: &str, context: &Digest) -> Option<u32> {
        self.scope_ids.get(&(tenant.to_owned(), *context)).copied()
    }

    fn live(&self, id: u64, scope: u32, now: f64) -> Option<&Entry> {
        self.entries
            .get(&id)
            .filter(|e| e.scope == scope && now < e.data.expires_at)
    }

    /// True if an entry with this id is stored (whether or not it expired).
    pub fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }

    /// The live entry stored under exactly this key, marked as just used.
    pub fn get(&mut self, scope: u32, prompt: &Digest, now: f64) -> Option<&Entry> {
        let id = *self.by_key.get(&(scope, *prompt))?;
        self.hit(id, scope, now)
    }

    /// The entry with this id if it is live and belongs to `scope`, without
    /// marking it used: the semantic tier inspects candidates first.
    pub fn peek(&self, id: u64, scope: u32, now: f64) -> Option<&Entry> {
        self.live(id, scope, now)
    }

    /// Like [`peek`](Self::peek), and marks the entry as just used.
    pub fn hit(&mut self, id: u64, scope: u32, now: f64) -> Option<&Entry> {
        self.live(id, scope, now)?;
        self.unlink(id);
        self.push_newest(id);
        self.entries.get(&id)
    }

    /// Stores an entry, replacing any entry under the same key, then restores
    /// the size bound: expired entries go first, then the least recently used.
    /// Returns the new id and every entry that left the cache.
    pub fn insert(
        &mut self,
        scope: u32,
        prompt: Digest,
        entry: NewEntry,
        now: f64,
    ) -> Result<(u64, Vec<Removed>), CoreError> {
        if scope as usize >= self.scopes.len() {
            return Err(CoreError::invalid(
                "scope",
                format!(
                    "scope {scope} does not exist ({} scopes); get one from scope()",
                    self.scopes.len()
                ),
            ));
        }
        check_time("now", now)?;
        check_time("created_at", entry.created_at)?;
        if entry.expires_at.is_nan() {
            return Err(CoreError::invalid(
                "expires_at",
                "got NaN; pass a time in seconds or infinity for no expiry",
            ));
        }
        if !(entry.cost_usd.is_finite() && entry.cost_usd >= 0.0) {
            return Err(CoreError::invalid(
                "cost_usd",
                format!("got {}; it must be a finite amount >= 0", entry.cost_usd),
            ));
        }
        let mut removed = Vec::new();
        if let Some(&old) = self.by_key.get(&(scope, prompt)) {
            removed.push(self.remove_entry(old, RemovalReason::Replaced));
            self.counters.replaced += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.link_new(id, scope, prompt, entry);
        self.counters.inserts += 1;
        self.size_for_churn();
        if self.entries.len() > self.max_entries {
            removed.extend(self.purge_expired(now));
        }
        while self.entries.len() > self.max_entries {
            let oldest = self.oldest.expect("a non-empty cache has an oldest entry");
            removed.push(self.remove_entry(oldest, RemovalReason::Evicted));
            self.counters.evicted += 1;
        }
        Ok((id, removed))
    }

    /// Removes one entry by id.
    pub fn remove(&mut self, id: u64) -> Option<Removed> {
        if !self.entries.contains_key(&id) {
            return None;
        }
        self.counters.invalidated += 1;
        Some(self.remove_entry(id, RemovalReason::Invalidated))
    }

    /// Removes the entry stored under exactly this key, if any.
    pub fn remove_key(&mut self, scope: u32, prompt: &Digest) -> Option<Removed> {
        let id = *self.by_key.get(&(scope, *prompt))?;
        self.remove(id)
    }

    /// Removes every entry whose scope matches all given fields of `selector`
    /// (an empty selector removes everything).
    pub fn remove_matching(&mut self, selector: Selector<'_>) -> Vec<Removed> {
        let matching: Vec<bool> = self
            .scopes
            .iter()
            .map(|s| {
                selector.tenant.map_or(true, |t| s.tenant == t)
                    && selector
                        .model
                        .map_or(true, |m| s.model.as_deref() == Some(m))
                    && selector.namespace.map_or(true, |n| s.namespace == n)
            })
            .collect();
        let mut ids: Vec<u64> = self
            .entries
            .values()
            .filter(|e| matching[e.scope as usize])
            .map(|e| e.id)
            .collect();
        ids.sort_unstable();
        self.counters.invalidated += ids.len() as u64;
        ids.into_iter()
            .map(|id| self.remove_entry(id, RemovalReason::Invalidated))
            .collect()
    }

    /// Removes every entry whose TTL has run out by `now`.
    pub fn purge_expired(&mut self, now: f64) -> Vec<Removed> {
        let mut removed = Vec::new();
        while let Some(&(Deadline(at), id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            removed.push(self.remove_entry(id, RemovalReason::Expired));
            self.counters.expired += 1;
        }
        removed
    }

    /// Entry ids in LRU order, least recently used first.
    pub fn lru_order(&self) -> Vec<u64> {
        let mut order = Vec::with_capacity(self.entries.len());
        let mut cursor = self.oldest;
        while let Some(id) = cursor {
            order.push(id);
            cursor = self.entries[&id].newer;
        }
        order
    }

    /// Everything needed to rebuild this cache with [`restore`](Self::restore).
    pub fn export(&self) -> Snapshot {
        let entries = self
            .lru_order()
            .into_iter()
            .map(|id| {
                let e = &self.entries[&id];
                (e.id, e.scope, e.prompt, e.data.clone())
            })
            .collect();
        Snapshot {
            max_entries: self.max_entries,
            next_id: self.next_id,
            scopes: self.scopes.clone(),
            entries,
        }
    }

    /// Rebuilds a cache from a snapshot, checking it is consistent (a
    /// snapshot read from a damaged file is rejected, never half-loaded).
    /// `max_entries` may differ from the snapshot's: the least recently used
    /// entries beyond it are dropped and returned.
    pub fn restore(
        snapshot: Snapshot,
        max_entries: usize,
    ) -> Result<(Self, Vec<Removed>), CoreError> {
        let mut cache = Self::new(max_entries)?;
        for (i, scope) in snapshot.scopes.into_iter().enumerate() {
            let key = (scope.tenant.clone(), scope.context);
            if cache.scope_ids.insert(key, i as u32).is_some() {
                return Err(CoreError::invalid(
                    "snapshot",
                    format!("scope {i} duplicates an earlier scope"),
                ));
            }
            cache.scopes.push(scope);
        }
        for (id, scope, prompt, data) in snapshot.entries {
            if id == 0 || id >= snapshot.next_id || cache.entries.contains_key(&id) {
                return Err(CoreError::invalid(
                    "snapshot",
                    format!(
                        "entry id {id} is zero, repeated, or not below next_id {}",
                        snapshot.next_id
                    ),
                ));
            }
            if scope as usize >= cache.scopes.len() || cache.by_key.contains_key(&(scope, prompt)) {
                return Err(CoreError::invalid(
                    "snapshot",
                    format!("entry {id} has an unknown scope {scope} or a repeated key"),
                ));
            }
            if data.expires_at.is_nan()
                || !data.created_at.is_finite()
                || !(data.cost_usd.is_finite() && data.cost_usd >= 0.0)
            {
                return Err(CoreError::invalid(
                    "snapshot",
                    format!("entry {id} has an invalid time or cost"),
                ));
            }
            cache.link_new(id, scope, prompt, data);
        }
        cache.next_id = snapshot.next_id.max(1);
        let mut removed = Vec::new();
        while cache.entries.len() > cache.max_entries {
            let oldest = cache.oldest.expect("non-empty");
            removed.push(cache.remove_entry(oldest, RemovalReason::Evicted));
            cache.counters.evicted += 1;
        }
        Ok((cache, removed))
    }

    fn link_new(&mut self, id: u64, scope: u32, prompt: Digest, data: NewEntry) {
        if data.expires_at.is_finite() {
            self.deadlines.insert((Deadline(data.expires_at), id));
        }
        self.entries.insert(
            id,
            Entry {
                id,
                scope,
                prompt,
                data,
                newer: None,
                older: None,
            },
        );
        self.by_key.insert((scope, prompt), id);
        self.push_newest(id);
    }

    fn remove_entry(&mut self, id: u64, reason: RemovalReason) -> Removed {
        self.unlink(id);
        let entry = self.entries.remove(&id).expect("removing a live entry");
        self.by_key.remove(&(entry.scope, entry.prompt));
        if entry.data.expires_at.is_finite() {
            self.deadlines
                .remove(&(Deadline(entry.data.expires_at), id));
        }
        Removed {
            id,
            scope: entry.scope,
            reason,
        }
    }

    fn unlink(&mut self, id: u64) {
        let (newer, older) = {
            let e = &self.entries[&id];
            (e.newer, e.older)
        };
        match newer {
            Some(n) => self.entries.get_mut(&n).expect("linked").older = older,
            None => self.newest = older,
        }
        match older {
            Some(o) => self.entries.get_mut(&o).expect("linked").newer = newer,
            None => self.oldest = newer,
        }
        let e = self.entries.get_mut(&id).expect("live");
        e.newer = None;
        e.older = None;
    }

    fn push_newest(&mut self, id: u64) {
        let previous = self.newest;
        {
            let e = self.entries.get_mut(&id).expect("live");
            e.older = previous;
            e.newer = None;
        }
        match previous {
            Some(p) => self.entries.get_mut(&p).expect("linked").newer = Some(id),
            None => self.oldest = Some(id),
        }
        self.newest = Some(id);
    }

    /// Checks every internal invariant; for tests.
    #[doc(hidden)]
    pub fn check_invariants(&self) {
        let order = self.lru_order();
        assert_eq!(
            order.len(),
            self.entries.len(),
            "LRU list covers every entry"
        );
        assert_eq!(self.by_key.len(), self.entries.len(), "one key per entry");
        assert!(self.entries.len() <= self.max_entries, "size bound holds");
        for (&(scope, prompt), &id) in &self.by_key {
            let e = &self.entries[&id];
            assert_eq!((e.scope, e.prompt), (scope, prompt));
            assert!(id < self.next_id);
        }
        let finite = self
            .entries
            .values()
            .filter(|e| e.data.expires_at.is_finite())
            .count();
        assert_eq!(
            self.deadlines.len(),
            finite,
            "one deadline per expiring entry"
        );
        assert_eq!(self.scopes.len(), self.scope_ids.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str, expires_at: f64) -> NewEntry {
        NewEntry {
            key_text: text.into(),
            response: format!("answer to {text}"),
            cost_usd: 0.01,
            created_at: 0.0,
            expires_at,
        }
    }

    fn ctx(model: Option<&str>) -> Digest {
        context_digest(&Context {
            namespace: "default",
            model,
            system_prompt: None,
            params: "{}",
        })
    }

    fn put(cache: &mut ExactCache, scope: u32, prompt: &str, now: f64) -> (u64, Vec<Removed>) {
        cache
            .insert(
                scope,
                prompt_digest(prompt),
                entry(prompt, f64::INFINITY),
                now,
            )
            .unwrap()
    }

    #[test]
    fn a_full_cache_under_churn_never_reallocates_its_tables() {
        // Gateway memory grew ~31 MB about 40k requests after the answer cache
        // filled: with deletions leaving tombstones, a hash table at >50% load
        // doubles once when they use up its free slots. The tables are sized for
        // that when the cache first fills, so its memory is flat from then on.
        let max = 5_000;
        let mut cache = ExactCache::new(max).unwrap();
        let scope = cache.scope("t", "default", None, ctx(None));
        for i in 0..max {
            put(&mut cache, scope, &format!("prompt {i}"), 0.0);
        }
        put(&mut cache, scope, "the first eviction", 0.0);
        let full = (cache.entries.capacity(), cache.by_key.capacity());
        for i in max..12 * max {
            let (_, removed) = put(&mut cache, scope, &format!("prompt {i}"), 0.0);
            assert_eq!(removed.len(), 1);
            // capacity() is len + free slots: tombstones lower it, in-place
            // rehashes restore it; it never grows past its size at the first fill.
            assert!(
                cache.entries.capacity() <= full.0,
                "entries grew at insert {i}"
            );
            assert!(
                cache.by_key.capacity() <= full.1,
                "by_key grew at insert {i}"
            );
        }
        assert_eq!(cache.len(), max);
    }

    #[test]
    fn normalisation_trims_and_unifies_line_endings_only() {
        assert_eq!(normalise_prompt("\tHello   World?? "), "Hello   World??");
        assert_eq!(normalise_prompt("a\r\nb\rc"), "a\nb\nc");
        assert_eq!(normalise_prompt(" \u{1f} "), "");
        assert_ne!(prompt_digest("Hello"), prompt_digest("hello"));
        assert_ne!(prompt_digest("if x:\n    y"), prompt_digest("if x:\n  y"));
        assert_ne!(prompt_digest("3.5"), prompt_digest("35"));
        assert_eq!(prompt_digest("What?"), prompt_digest("  What?\n"));
    }

    #[test]
    fn context_fields_cannot_shift_into_each_other() {
        let a = Context {
            namespace: "ab",
            model: Some("c"),
            system_prompt: None,
            params: "{}",
        };
        let b = Context {
            namespace: "a",
            model: Some("bc"),
            ..a
        };
        let c = Context { model: None, ..a };
        let d = Context {
            model: Some(""),
            ..a
        };
        let digests = [a, b, c, d].map(|x| context_digest(&x));
        for i in 0..4 {
            for j in 0..i {
                assert_ne!(digests[i], digests[j], "{i} vs {j}");
            }
        }
    }

    #[test]
    fn hit_miss_and_replace() {
        let mut cache = ExactCache::new(10).unwrap();
        let s = cache.scope("t", "default", Some("m"), ctx(Some("m")));
        let (id1, removed) = put(&mut cache, s, "What is 2+2?", 0.0);
        assert!(removed.is_empty());
        assert_eq!(
            cache
                .get(s, &prompt_digest(" What is 2+2?\n"), 1.0)
                .unwrap()
                .id,
            id1
        );
        assert!(cache.get(s, &prompt_digest("What is 2+3?"), 1.0).is_none());
        assert!(cache.get(s, &prompt_digest("what is 2+2?"), 1.0).is_none());
        let (id2, removed) = put(&mut cache, s, "What is 2+2?\r\n", 2.0);
        assert_eq!(
            removed,
            vec![Removed {
                id: id1,
                scope: s,
                reason: RemovalReason::Replaced
            }]
        );
        assert!(id2 > id1);
        assert_eq!(cache.len(), 1);
        assert!(
            cache.peek(id1, s, 3.0).is_none(),
            "a replaced id never answers"
        );
        cache.check_invariants();
    }

    #[test]
    fn tenants_never_share_entries_even_when_every_digest_collides() {
        // Force the worst case: identical context and prompt digests.
        let mut cache = ExactCache::new(10).unwrap();
        let collide = [7u8; 32];
        let a = cache.scope("tenant-a", "default", None, collide);
        let b = cache.scope("tenant-b", "default", None, collide);
        assert_ne!(a, b);
        let (id, _) = cache
            .insert(a, collide, entry("x", f64::INFINITY), 0.0)
            .unwrap();
        assert!(cache.get(b, &collide, 1.0).is_none());
        assert!(cache.peek(id, b, 1.0).is_none());
        assert!(cache.hit(id, b, 1.0).is_none());
        assert_eq!(cache.get(a, &collide, 1.0).unwrap().id, id);
        assert_eq!(cache.find_scope("tenant-b", &collide), Some(b));
        assert_eq!(cache.find_scope("tenant-c", &collide), None);
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut cache = ExactCache::new(3).unwrap();
        let s = cache.scope("t", "default", None, ctx(None));
        let (a, _) = put(&mut cache, s, "a", 0.0);
        let (b, _) = put(&mut cache, s, "b", 0.0);
        let (c, _) = put(&mut cache, s, "c", 0.0);
        assert!(cache.get(s, &prompt_digest("a"), 1.0).is_some()); // a is now newest
        let (d, removed) = put(&mut cache, s, "d", 2.0);
        assert_eq!(removed.len(), 1);
        assert_eq!(
            (removed[0].id, removed[0].reason),
            (b, RemovalReason::Evicted)
        );
        assert_eq!(cache.lru_order(), vec![c, a, d]);
        assert_eq!(cache.counters().evicted, 1);
        cache.check_invariants();
    }

    #[test]
    fn peek_does_not_touch_but_hit_does() {
        let mut cache = ExactCache::new(2).unwrap();
        let s = cache.scope("t", "default", None, ctx(None));
        let (a, _) = put(&mut cache, s, "a", 0.0);
        let (b, _) = put(&mut cache, s, "b", 0.0);
        assert!(cache.peek(a, s, 0.0).is_some());
        assert_eq!(cache.lru_order(), vec![a, b]);
        assert!(cache.hit(a, s, 0.0).is_some());
        assert_eq!(cache.lru_order(), vec![b, a]);
    }

    #[test]
    fn ttl_expires_entries_and_purge_prefers_them_over_lru() {
        let mut cache = ExactCache::new(2).unwrap();
        let s = cache.scope("t", "default", None, ctx(None));
        let (short, _) = cache
            .insert(s, prompt_digest("short"), entry("short", 10.0), 0.0)
            .unwrap();
        let (long, _) = put(&mut cache, s, "long", 0.0);
        assert!(cache.get(s, &prompt_digest("short"), 9.999).is_some());
        assert!(cache.get(s, &prompt_digest("short"), 10.0).is_none());
        assert!(cache.peek(short, s, 10.0).is_none());
        // `short` is now the most recently used, but expired: a full cache
        // drops it before evicting the live `long`.
        let (_, removed) = put(&mut cache, s, "new", 11.0);
        assert_eq!(
            removed,
            vec![Removed {
                id: short,
                scope: s,
                reason: RemovalReason::Expired
            }]
        );
        assert!(cache.peek(long, s, 11.0).is_some());
        assert_eq!(cache.purge_expired(1e9), vec![]);
        assert_eq!(cache.counters().expired, 1);
        cache.check_invariants();
    }

    #[test]
    fn remove_matching_by_tenant_model_namespace() {
        let mut cache = ExactCache::new(100).unwrap();
        let mut scopes = Vec::new();
        for tenant in ["t1", "t2"] {
            for model in ["m1", "m2"] {
                for ns in ["n1", "n2"] {
                    let digest = context_digest(&Context {
                        namespace: ns,
                        model: Some(model),
                        system_prompt: None,
                        params: "{}",
                    });
                    let s = cache.scope(tenant, ns, Some(model), digest);
                    put(&mut cache, s, "q", 0.0);
                    scopes.push(s);
                }
            }
        }
        assert_eq!(cache.len(), 8);
        let by_model = cache.remove_matching(Selector {
            model: Some("m1"),
            ..Selector::default()
        });
        assert_eq!(by_model.len(), 4);
        let by_both = cache.remove_matching(Selector {
            tenant: Some("t1"),
            namespace: Some("n2"),
            ..Selector::default()
        });
        assert_eq!(by_both.len(), 1);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.remove_matching(Selector::default()).len(), 3);
        assert!(cache.is_empty());
        assert_eq!(cache.counters().invalidated, 8);
        cache.check_invariants();
    }

    #[test]
    fn export_restore_round_trip_keeps_lru_order_and_ids() {
        let mut cache = ExactCache::new(5).unwrap();
        let s = cache.scope("t", "default", None, ctx(None));
        for p in ["a", "b", "c"] {
            put(&mut cache, s, p, 0.0);
        }
        cache.get(s, &prompt_digest("a"), 1.0);
        let snapshot = cache.export();
        let (restored, dropped) = ExactCache::restore(snapshot.clone(), 5).unwrap();
        assert!(dropped.is_empty());
        assert_eq!(restored.lru_order(), cache.lru_order());
        assert_eq!(restored.export(), snapshot);
        // A smaller bound drops the least recently used.
        let (small, dropped) = ExactCache::restore(snapshot.clone(), 2).unwrap();
        assert_eq!(dropped.len(), 1);
        assert_eq!(small.len(), 2);
        // New ids continue after the restored ones.
        let (mut restored, _) = ExactCache::restore(snapshot, 5).unwrap();
        let (id, _) = put(&mut restored, s, "d", 2.0);
        assert_eq!(id, 4);
        restored.check_invariants();
    }

    #[test]
    fn restore_rejects_inconsistent_snapshots() {
        let mut cache = ExactCache::new(5).unwrap();
        let s = cache.scope("t", "default", None, ctx(None));
        put(&mut cache, s, "a", 0.0);
        let good = cache.export();
        let mut bad = good.clone();
        bad.next_id = 1;
        assert!(ExactCache::restore(bad, 5).is_err());
        let mut bad = good.clone();
        bad.entries[0].1 = 9;
        assert!(ExactCache::restore(bad, 5).is_err());
        let mut bad = good.clone();
        bad.entries.push(bad.entries[0].clone());
        assert!(ExactCache::restore(bad, 5).is_err());
        let mut bad = good;
        bad.scopes.push(bad.scopes[0].clone());
        assert!(ExactCache::restore(bad, 5).is_err());
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(ExactCache::new(0).is_err());
        let mut cache = ExactCache::new(5).unwrap();
        assert!(cache.insert(0, [0; 32], entry("a", 1.0), 0.0).is_err());
        let s = cache.scope("t", "default", None, ctx(None));
        let mut e = entry("a", f64::NAN);
        assert!(cache.insert(s, [0; 32], e.clone(), 0.0).is_err());
        e.expires_at = 1.0;
        assert!(cache.insert(s, [0; 32], e.clone(), f64::NAN).is_err());
        e.cost_usd = -1.0;
        let err = cache.insert(s, [0; 32], e, 0.0).unwrap_err();
        assert!(err.to_string().contains("cost_usd"), "{err}");
        assert!(cache.is_empty());
    }

    #[test]
    fn random_operations_keep_invariants() {
        // A small deterministic LCG drives a mix of operations.
        let mut state = 12345u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut cache = ExactCache::new(16).unwrap();
        let scopes: Vec<u32> = (0..3)
            .map(|t| cache.scope(&format!("t{t}"), "default", None, ctx(None)))
            .collect();
        for step in 0..5000 {
            let now = step as f64;
            let s = scopes[next(3) as usize];
            let key = prompt_digest(&format!("p{}", next(40)));
            match next(6) {
                0 | 1 => {
                    let ttl = if next(2) == 0 {
                        f64::INFINITY
                    } else {
                        now + next(50) as f64
                    };
                    cache.insert(s, key, entry("x", ttl), now).unwrap();
                }
                2 | 3 => {
                    if let Some(e) = cache.get(s, &key, now) {
                        assert_eq!(e.scope, s);
                        assert!(now < e.data.expires_at);
                    }
                }
                4 => {
                    cache.remove_key(s, &key);
                }
                _ => {
                    for r in cache.purge_expired(now) {
                        assert_eq!(r.reason, RemovalReason::Expired);
                    }
                }
            }
            cache.check_invariants();
        }
    }
}
