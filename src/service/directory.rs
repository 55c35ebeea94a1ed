//! The lawyer directory: the public list and profile (docs/api.md 3.3 #1, #2) and the list of
//! available lawyers that logged-in citizens browse (3.4 #4). Only active, verified lawyers
//! are listed; the public views never show contact details or verification notes.

use serde::Serialize;
use serde_json::Value;

use crate::domain::page::legacy_pagination;
use crate::domain::page::{Page, Params};
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::service::accounts::views::{LawyerForCitizen, LawyerStats, PublicLawyer};
use crate::state::AppState;
use crate::store::reports;
use crate::store::users::{self, LawyerQuery, LawyerSearchIn, LawyerSort, User};

/// `fields=` names the public directory accepts (3.3 #1). `email` is listed by the original
/// but is not part of the public projection, so it selects nothing.
pub const DIRECTORY_FIELDS: &[&str] =
    &["name", "email", "role", "lawyerDetails.specialization", "lawyerDetails.experience", "createdAt"];

/// The leading integer of a string, as JavaScript's `parseInt` reads it ("2 years" is 2).
fn leading_int(raw: &str) -> Option<i64> {
    let s = raw.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|n| sign * n)
}

/// The `experience` filter: `"a-b"` is an inclusive range, `"N+"` a minimum (the frontend
/// sends "0-2 years" and "10+ years"). A bound that is not a number is left open.
pub fn experience_range(raw: &str) -> (Option<i64>, Option<i64>) {
    let parts: Vec<&str> = raw.split('-').collect();
    if parts.len() == 2 {
        (leading_int(parts[0]), leading_int(parts[1]))
    } else if raw.contains('+') {
        (leading_int(&raw.replace('+', "")), None)
    } else {
        (None, None)
    }
}

/// The filters and order of both directory lists, as read from the query string (the
/// OpenAPI parameters of both routes are generated from this type).
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectoryFilters {
    /// One specialization the lawyer must have (`all`: any).
    pub specialization: Option<String>,
    /// Years of experience, "min-max" or "N+".
    pub experience: Option<String>,
    /// Case-insensitive text (the fields depend on the list).
    pub search: Option<String>,
    /// createdAt (default), name or experience.
    #[param(rename = "sortBy")]
    pub sort_by: Option<String>,
    /// desc (default) or asc.
    #[param(rename = "sortOrder")]
    pub sort_order: Option<String>,
}

impl DirectoryFilters {
    pub fn from_params(params: &Params) -> DirectoryFilters {
        let own = |v: Option<&str>| v.map(str::to_string);
        DirectoryFilters {
            specialization: own(params.filter("specialization")),
            experience: own(params.filter("experience")),
            search: own(params.get("search")),
            sort_by: own(params.get("sortBy")),
            sort_order: own(params.get("sortOrder")),
        }
    }

    fn into_query(self, page: Page, search_in: LawyerSearchIn) -> LawyerQuery {
        let (min_experience, max_experience) = self.experience.as_deref().map(experience_range).unwrap_or((None, None));
        LawyerQuery {
            specialization: self.specialization,
            min_experience,
            max_experience,
            search: self.search,
            search_in,
            sort: LawyerSort::parse(self.sort_by.as_deref()),
            descending: self.sort_order.as_deref().is_none_or(|o| o == "desc"),
            limit: page.limit,
            offset: page.offset(),
        }
    }
}

/// 3.3 #1: one page of the public directory (items after `fields=`) and the total.
pub async fn verified_lawyers(state: &AppState, params: &Params, page: Page) -> AppResult<(Vec<Value>, i64)> {
    let q = DirectoryFilters::from_params(params).into_query(page, LawyerSearchIn::NameSpecializationEducation);
    let (lawyers, total) = users::listed_lawyers(&state.db, &q).await?;
    let items = lawyers
        .iter()
        .map(|u| crate::domain::page::select_fields(PublicLawyer::of(u).to_value(), params, DIRECTORY_FIELDS))
        .collect();
    Ok((items, total))
}

/// 3.3 #2: `{lawyer: {...public projection, stats}}`; 404 unless an active verified lawyer.
pub async fn profile(state: &AppState, lawyer_id: &Id) -> AppResult<Value> {
    let lawyer = users::get(&state.db, lawyer_id)
        .await?
        .filter(User::is_active_verified_lawyer)
        .ok_or_else(|| AppError::not_found("Lawyer not found"))?;
    let (resolved_queries, resolved_disputes) = reports::resolved_counts_of_lawyer(&state.db, lawyer_id).await?;
    let stats = LawyerStats {
        resolved_queries,
        resolved_disputes,
        total_cases: resolved_queries + resolved_disputes,
        // Placeholder until consultations carry ratings, as in the original.
        rating: 4.5,
    };
    let lawyer = PublicLawyer { stats: Some(stats), ..PublicLawyer::of(&lawyer) };
    Ok(to_value(&LawyerProfile { lawyer }))
}

/// 3.3 #2's `data`.
#[derive(Serialize)]
struct LawyerProfile<'a> {
    lawyer: PublicLawyer<'a>,
}

/// 3.4 #4's `data`.
#[derive(Serialize)]
struct AvailableLawyers<'a> {
    lawyers: Vec<LawyerForCitizen<'a>>,
    pagination: Value,
}

fn to_value(view: &impl Serialize) -> Value {
    serde_json::to_value(view).expect("a view serializes")
}

/// 3.4 #4: `{lawyers, pagination: {current, pages, total}}`, 12 per page by default.
pub async fn available_for_citizens(state: &AppState, params: &Params) -> AppResult<Value> {
    let page = params.page(12)?;
    let q = DirectoryFilters::from_params(params).into_query(page, LawyerSearchIn::NameEmailSpecialization);
    let (lawyers, total) = users::listed_lawyers(&state.db, &q).await?;
    let lawyers = lawyers.iter().map(LawyerForCitizen::of).collect();
    Ok(to_value(&AvailableLawyers { lawyers, pagination: legacy_pagination(total, page) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experience_reads_like_the_frontend_sends_it() {
        assert_eq!(experience_range("0-2 years"), (Some(0), Some(2)));
        assert_eq!(experience_range("3-5"), (Some(3), Some(5)));
        assert_eq!(experience_range("10+ years"), (Some(10), None));
        assert_eq!(experience_range("x-7"), (None, Some(7)));
        assert_eq!(experience_range("abc"), (None, None));
    }
}
