//! Every cached GET route in one table (docs/api.md 3.12): TTL (the original's, as a maximum),
//! scope, and the invalidation tags an entry depends on. A new cached route adds a row here
//! and calls [`super::Cache::serve`] with it; see README "Caching a route".

use std::time::Duration;

use crate::ids::Id;
use crate::store::users::{Role, User};

use super::{Scope, Tag};

/// Who may share one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeRule {
    Public,
    Role(Role),
    /// One entry per caller.
    User,
}

/// An invalidation tag, relative to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagRule {
    /// `DIR`: the lawyer directory as a whole.
    Dir,
    /// `DIR:<lawyer>` for the lawyer in the path.
    DirOfSubject,
    /// `ADM`: admin dashboards and lists.
    Adm,
    /// `AVAIL`: the pool of open cases.
    Avail,
    /// `AVAIL` for a lawyer (whose default case list is the open pool), nothing for others.
    AvailForLawyer,
    /// `ADM` for an admin (whose case list shows every case), nothing for others.
    AdmForAdmin,
    /// `CASE:<id>` for the case in the path.
    CaseOfSubject,
    /// `CIT:<caller>` or `LAW:<caller>`, by the caller's role.
    Caller,
    /// `CHATS:<caller>`: the route shows chat activity (last message, unread counts, chat
    /// order). Such routes list `Caller` too: chats appearing or changing status move that.
    ChatsOfCaller,
    /// `CONS:<id>` for the consultation in the path.
    ConsOfSubject,
    /// `CONSL:<caller>`.
    ConsListOfCaller,
}

#[derive(Debug)]
pub struct Policy {
    /// The matched route, used in keys and as the metrics label.
    pub route: &'static str,
    pub ttl: Duration,
    pub scope: ScopeRule,
    pub tags: &'static [TagRule],
}

const fn policy(route: &'static str, ttl_secs: u64, scope: ScopeRule, tags: &'static [TagRule]) -> Policy {
    Policy { route, ttl: Duration::from_secs(ttl_secs), scope, tags }
}

use ScopeRule::{Public, User as PerUser};
use TagRule::*;

// Public directory.
pub const LAWYERS_VERIFIED: Policy = policy("/api/lawyers/verified", 600, Public, &[Dir]);
pub const LAWYER_PROFILE: Policy = policy("/api/lawyers/{lawyerId}/profile", 300, Public, &[Dir, DirOfSubject]);

// Admin.
pub const ADMIN_ANALYTICS: Policy = policy("/api/admin/dashboard/analytics", 120, ScopeRule::Role(Role::Admin), &[Adm]);
pub const ADMIN_STATS: Policy = policy("/api/admin/system/stats", 60, ScopeRule::Role(Role::Admin), &[Adm]);
pub const ADMIN_USERS: Policy = policy("/api/admin/users", 300, ScopeRule::Role(Role::Admin), &[Adm]);
pub const ADMIN_PENDING: Policy =
    policy("/api/admin/lawyers/pending-verifications", 60, ScopeRule::Role(Role::Admin), &[Adm]);

// Lawyers' private routes.
pub const LAWYER_DASHBOARD: Policy = policy("/api/lawyers/dashboard/stats", 120, PerUser, &[Caller]);
pub const LAWYER_AVAILABLE_CASES: Policy = policy("/api/lawyers/available-cases", 180, PerUser, &[Avail, Caller]);
pub const LAWYER_MY_CASES: Policy = policy("/api/lawyers/my-cases", 120, PerUser, &[Caller, ChatsOfCaller]);
pub const LAWYER_MY_CLIENTS: Policy = policy("/api/lawyers/my-clients", 300, PerUser, &[Caller]);
pub const LAWYER_MY_DIRECT_CLIENTS: Policy =
    policy("/api/lawyers/my-direct-clients", 300, PerUser, &[Caller, ChatsOfCaller]);
pub const LAWYER_PENDING_REQUESTS: Policy = policy("/api/lawyers/pending-requests", 60, PerUser, &[Caller]);
pub const LAWYER_MY_CHATS: Policy = policy("/api/lawyers/my-chats", 120, PerUser, &[Caller, ChatsOfCaller]);
pub const LAWYER_PENDING_CONNECTIONS: Policy =
    policy("/api/lawyers/pending-connection-requests", 60, PerUser, &[Caller]);
pub const LAWYER_CONNECTED_CITIZENS: Policy =
    policy("/api/lawyers/connected-citizens", 300, PerUser, &[Caller, ChatsOfCaller]);
pub const LAWYER_MY_CASE_REQUESTS: Policy = policy("/api/lawyers/my-case-requests", 120, PerUser, &[Caller]);
pub const LAWYER_RECEIVED_CASE_REQUESTS: Policy =
    policy("/api/lawyers/received-case-requests", 120, PerUser, &[Caller]);

// Citizens.
pub const CITIZEN_DASHBOARD: Policy = policy("/api/citizens/dashboard", 120, PerUser, &[Caller]);
pub const CITIZEN_RECENT_ACTIVITY: Policy = policy("/api/citizens/recent-activity", 60, PerUser, &[Caller]);
pub const CITIZEN_MY_LAWYERS: Policy = policy("/api/citizens/my-lawyers", 300, PerUser, &[Caller]);
pub const CITIZEN_AVAILABLE_LAWYERS: Policy =
    policy("/api/citizens/available-lawyers", 600, ScopeRule::Role(Role::Citizen), &[Dir]);
pub const CITIZEN_MY_CASES: Policy = policy("/api/citizens/my-cases", 120, PerUser, &[Caller, ChatsOfCaller]);
pub const CITIZEN_PENDING_REQUESTS: Policy = policy("/api/citizens/pending-requests", 60, PerUser, &[Caller]);
pub const CITIZEN_RECEIVED_OFFERS: Policy = policy("/api/citizens/received-offers", 60, PerUser, &[Caller]);
pub const CITIZEN_MY_CASE_REQUESTS: Policy = policy("/api/citizens/my-case-requests", 120, PerUser, &[Caller]);
pub const CITIZEN_MY_CASE_OFFERS: Policy = policy("/api/citizens/my-case-offers", 120, PerUser, &[Caller]);
pub const CITIZEN_CONNECTED_LAWYERS: Policy =
    policy("/api/citizens/connected-lawyers", 300, PerUser, &[Caller, ChatsOfCaller]);
pub const CITIZEN_PENDING_CONNECTIONS: Policy =
    policy("/api/citizens/pending-connection-requests", 60, PerUser, &[Caller]);
pub const CITIZEN_DIRECT_CHATS: Policy = policy("/api/citizens/direct-chats", 120, PerUser, &[Caller, ChatsOfCaller]);

// Cases and consultations.
// A lawyer's `/queries` is by default an open-pool view (AVAIL) and an admin's list shows every
// case (ADM): both move with writes that never touch the caller's own tag. A citizen's shows
// their own cases only, so another citizen's new query leaves it cached.
pub const QUERIES: Policy = policy("/api/queries", 180, PerUser, &[Caller, AvailForLawyer, AdmForAdmin]);
pub const QUERY: Policy = policy("/api/queries/{queryId}", 300, PerUser, &[CaseOfSubject, Caller]);
pub const DISPUTES: Policy = policy("/api/disputes", 180, PerUser, &[Caller, AvailForLawyer, AdmForAdmin]);
pub const DISPUTE: Policy = policy("/api/disputes/{disputeId}", 300, PerUser, &[CaseOfSubject, Caller]);
pub const CONSULTATIONS: Policy = policy("/api/consultations", 120, PerUser, &[ConsListOfCaller]);
pub const CONSULTATION: Policy = policy("/api/consultations/{consultationId}", 180, PerUser, &[ConsOfSubject]);

impl Policy {
    pub fn scope(&self, caller: Option<&User>) -> Scope {
        match (self.scope, caller) {
            (ScopeRule::Public, _) => Scope::Public,
            (ScopeRule::Role(role), _) => Scope::Role(role),
            (ScopeRule::User, Some(user)) => Scope::User(user.id.clone()),
            // A per-user route without a caller cannot share anything: key it apart.
            (ScopeRule::User, None) => Scope::User(Id::new()),
        }
    }

    pub fn tags(&self, caller: Option<&User>, subject: Option<&Id>) -> Vec<Tag> {
        self.tags
            .iter()
            .filter_map(|rule| match rule {
                Dir => Some(Tag::Dir),
                DirOfSubject => subject.map(|id| Tag::DirLawyer(id.clone())),
                Adm => Some(Tag::Adm),
                Avail => Some(Tag::Avail),
                AvailForLawyer => caller.filter(|u| u.role == Role::Lawyer).map(|_| Tag::Avail),
                AdmForAdmin => caller.filter(|u| u.role == Role::Admin).map(|_| Tag::Adm),
                CaseOfSubject => subject.map(|id| Tag::Case(id.clone())),
                Caller => caller.map(Tag::of_user),
                ChatsOfCaller => caller.map(|u| Tag::Chats(u.id.clone())),
                ConsOfSubject => subject.map(|id| Tag::Cons(id.clone())),
                ConsListOfCaller => caller.map(|u| Tag::ConsList(u.id.clone())),
            })
            .collect()
    }
}
