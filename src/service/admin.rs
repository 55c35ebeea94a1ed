//! Admin dashboards, user management and lawyer verification (docs/api.md 3.2).

use chrono::{Datelike, TimeZone, Utc};
use serde_json::{Value, json};

use crate::cache::Tag;
use crate::domain::page::{LegacyPagination, Page, Params};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::mail::templates;
use crate::service::accounts::views::CleanUser;
use crate::service::chats::view_json;
use crate::service::people;
use crate::state::AppState;
use crate::store::reports;
use crate::store::users::{self, Role, User, UserQuery, VerificationStatus};
use crate::time::Timestamp;

mod input;
mod views;
pub use input::*;
pub use views::*;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Counts per case type: `(all, resolved)`.
fn totals(counts: &[(String, String, i64)], case_type: &str) -> (i64, i64) {
    counts
        .iter()
        .filter(|(t, _, _)| t == case_type)
        .fold((0, 0), |(all, resolved), (_, status, n)| (all + n, resolved + if status == "resolved" { *n } else { 0 }))
}

/// `[{_id: status, count}]` of one case type.
fn status_stats(counts: &[(String, String, i64)], case_type: &str) -> Vec<CountOf> {
    counts
        .iter()
        .filter(|(t, _, _)| t == case_type)
        .map(|(_, status, n)| CountOf { id: status.clone(), count: *n })
        .collect()
}

/// The first instant of a calendar year (UTC).
fn new_year(year: i32) -> Timestamp {
    Timestamp::from(Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single().expect("a valid new year"))
}

/// 3.2 #1: counts, the five newest queries and disputes, this year's creations per month
/// (whole calendar months, UTC) and the revenue placeholder.
pub async fn analytics(state: &AppState) -> AppResult<Value> {
    let db = &state.db;
    let year = Utc::now().year();
    let (citizens, lawyers, pending, counts, queries, disputes, per_month) = tokio::try_join!(
        users::count_active(db, Role::Citizen),
        users::count_active(db, Role::Lawyer),
        users::count_pending_lawyers(db),
        reports::case_counts(db),
        reports::newest_cases(db, "query", 5),
        reports::newest_cases(db, "dispute", 5),
        reports::created_per_month(db, new_year(year), new_year(year + 1)),
    )?;
    let (total_queries, completed_queries) = totals(&counts, "query");
    let (total_disputes, completed_disputes) = totals(&counts, "dispute");
    let monthly_stats = MONTHS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let month = format!("{:02}", i + 1);
            let count = |case_type: &str| {
                per_month.iter().filter(|(t, m, _)| t == case_type && *m == month).map(|(_, _, n)| n).sum::<i64>()
            };
            MonthStats { month: name, queries: count("query"), disputes: count("dispute") }
        })
        .collect();
    Ok(view_json(Analytics {
        counts: Counts {
            total_citizens: citizens,
            total_lawyers: lawyers,
            total_queries,
            total_disputes,
            completed_queries,
            completed_disputes,
            pending_lawyer_verifications: pending,
        },
        recent_activities: RecentActivities {
            queries: queries.iter().map(RecentCase::of).collect(),
            disputes: disputes.iter().map(RecentCase::of).collect(),
        },
        monthly_stats,
        revenue: Revenue::PLACEHOLDER,
    }))
}

/// Average, minimum and maximum days from creation to resolution; zeros when nothing was resolved.
fn resolution_stats(spans: &[(Timestamp, String)]) -> ResolutionStats {
    let days: Vec<f64> = spans
        .iter()
        .filter_map(|(created, resolved)| {
            let resolved = crate::time::parse(resolved)?;
            Some((resolved - *created).num_milliseconds() as f64 / 86_400_000.0)
        })
        .collect();
    if days.is_empty() {
        return ResolutionStats::None(NoResolutions::default());
    }
    ResolutionStats::Resolved(ResolutionDays {
        id: (),
        average_resolution_time: days.iter().sum::<f64>() / days.len() as f64,
        min_resolution_time: days.iter().copied().fold(f64::INFINITY, f64::min),
        max_resolution_time: days.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// 3.2 #2: accounts per role, cases per status, the ten lawyers with most resolved queries
/// and resolution times of queries in days.
pub async fn system_stats(state: &AppState) -> AppResult<Value> {
    let db = &state.db;
    let (roles, counts, top, spans) = tokio::try_join!(
        users::count_by_role(db),
        reports::case_counts(db),
        reports::top_lawyers_by_resolved_queries(db, 10),
        reports::resolved_query_spans(db),
    )?;
    Ok(view_json(SystemStats {
        user_stats: roles.into_iter().map(|(id, count)| CountOf { id, count }).collect(),
        query_stats: status_stats(&counts, "query"),
        dispute_stats: status_stats(&counts, "dispute"),
        top_lawyers: top.iter().map(TopLawyerView::of).collect(),
        resolution_stats: resolution_stats(&spans),
    }))
}

/// The admin user list's filters (3.2 #3) from the query string.
pub fn user_query(params: &Params, page: Page) -> UserQuery {
    UserQuery {
        role: params.filter("role").map(str::to_string),
        active: params.filter("status").map(|s| s == "active"),
        verified: match params.filter("verificationStatus") {
            Some("verified") => Some(true),
            Some("pending" | "rejected") => Some(false),
            _ => None,
        },
        search: params.get("search").map(str::to_string),
        limit: page.limit,
        offset: page.offset(),
    }
}

/// 3.2 #3: the paginate-plugin shape `{docs, totalDocs, limit, page, totalPages, ...}`.
pub async fn list_users(state: &AppState, params: &Params) -> AppResult<Value> {
    let page = params.page(10)?;
    let (list, total) = users::list(&state.db, &user_query(params, page)).await?;
    let docs = people::clean_with_connections(state, &list, people::NAME_EMAIL_ROLE).await?;
    let pages = page.pages(total);
    Ok(view_json(UserPage {
        docs,
        total_docs: total,
        limit: page.limit,
        page: page.page,
        total_pages: pages,
        has_next_page: page.page < pages,
        has_prev_page: page.page > 1,
        next_page: (page.page < pages).then_some(page.page + 1),
        prev_page: (page.page > 1).then_some(page.page - 1),
    }))
}

/// 3.2 #4: sets `isActive` (or flips it when no boolean is given). An admin cannot change
/// their own account. Returns the updated user.
pub async fn toggle_status(state: &AppState, admin: &User, user_id: &Id, requested: Option<bool>) -> AppResult<User> {
    let mut user = users::get(&state.db, user_id).await?.ok_or_else(|| AppError::not_found("User not found"))?;
    if user.id == admin.id {
        return Err(AppError::bad_request("Cannot deactivate your own account"));
    }
    let active = requested.unwrap_or(!user.is_active);
    users::set_active(&state.db, &mut user, active).await?;
    let mut tags = vec![Tag::Adm];
    if user.role == Role::Lawyer {
        tags.extend([Tag::Dir, Tag::DirLawyer(user.id.clone())]);
    }
    people::user_changed(state, &user.id, tags).await;
    if !active {
        state.notifier.disconnect_user(&user.id);
    }
    Ok(user)
}

/// 3.2 #5: lawyers not (yet) verified, newest first, with `total` beside the pagination
/// because the admin page reads `data.total`.
pub async fn pending_verifications(state: &AppState, params: &Params) -> AppResult<Value> {
    let page = params.page(10)?;
    let (lawyers, total) = users::unverified_lawyers(&state.db, page.limit, page.offset()).await?;
    Ok(view_json(PendingLawyers {
        lawyers: lawyers.iter().map(CleanUser::of).collect(),
        pagination: LegacyPagination::of(total, page),
        total,
    }))
}

/// 3.2 #6: records the decision (`isVerified` and `lawyerDetails.verificationStatus` move
/// together), emails the lawyer, and drops every cached view of them.
pub async fn decide_verification(state: &AppState, lawyer_id: &Id, decision: &Decision) -> AppResult<User> {
    let mut lawyer = users::get(&state.db, lawyer_id)
        .await?
        .filter(|u| u.role == Role::Lawyer)
        .ok_or_else(|| AppError::not_found("Lawyer not found"))?;
    if decision.notes.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(AppError::bad_request("Verification notes cannot be more than 500 characters"));
    }
    let verified = decision.status == VerificationStatus::Verified;
    lawyer.is_verified = verified;
    // Two keys set in the stored free-form document; the lawyer's own keys stay as they are.
    let details = lawyer.lawyer_details.get_or_insert_with(|| json!({}));
    details["verificationStatus"] = json!(decision.status.as_str());
    if let Some(notes) = &decision.notes {
        details["verificationNotes"] = json!(notes);
    }
    users::save_verification(&state.db, &mut lawyer).await?;
    people::user_changed(
        state,
        &lawyer.id,
        [Tag::Dir, Tag::DirLawyer(lawyer.id.clone()), Tag::Adm, Tag::Law(lawyer.id.clone())],
    )
    .await;
    let frontend = &state.config.frontend_url;
    let email = if verified {
        templates::lawyer_verified(&lawyer.email, &lawyer.name, decision.notes.as_deref(), frontend)
    } else {
        templates::lawyer_rejected(&lawyer.email, &lawyer.name, decision.notes.as_deref(), frontend)
    };
    crate::service::background::send_email(state, email).await;
    Ok(lawyer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stats_are_zero_without_data() {
        let stats = |spans: &[(&str, &str)]| {
            let spans: Vec<(Timestamp, String)> =
                spans.iter().map(|(c, r)| (Timestamp::parse(c).unwrap(), r.to_string())).collect();
            view_json(resolution_stats(&spans))
        };
        assert_eq!(stats(&[])["averageResolutionTime"], 0);
        let s = stats(&[
            ("2024-01-01T00:00:00.000Z", "2024-01-03T00:00:00.000Z"),
            ("2024-01-01T00:00:00.000Z", "2024-01-05T00:00:00.000Z"),
        ]);
        assert_eq!(s["averageResolutionTime"], 3.0);
        assert_eq!(s["minResolutionTime"], 2.0);
        assert_eq!(s["maxResolutionTime"], 4.0);
        assert!(s["_id"].is_null());
    }
}
