//! The role views of cases: the open cases a lawyer may take and the my-cases lists of both
//! sides with each case's chat (docs/api.md 3.3 #4, #5; 3.4 #5).

use serde_json::Value;

use crate::domain::case::Direction;
use crate::domain::page::{LegacyPagination, Page, Params, select_fields, wrapper_page};
use crate::error::AppResult;
use crate::ids::Id;
use crate::service::people::{CONTACT, LAWYER_BRIEF};
use crate::state::AppState;
use crate::store::cases::{self as store, CaseFilter, SortKey};
use crate::store::users::User;

use super::input::case_type_param;
use super::views::{
    AVAILABLE_FIELDS, AvailableCase, CasePage, CaseView, ChatRoomView, Hydrated, MyCase, Populate, to_json,
};

/// 3.3 #4: open cases of both types (pending AND unassigned AND the filters), with whether
/// this lawyer already has an entry. Returns `data` (`{cases, pagination}`), total and page.
pub async fn available_cases(state: &AppState, lawyer: &User, params: &Params) -> AppResult<(Value, i64, Page)> {
    let page = wrapper_page(params)?;
    let filter = CaseFilter {
        case_type: case_type_param(params, "caseType"),
        open_only: true,
        category: params.filter("category"),
        priority: params.filter("priority"),
        search: params.get("search"),
        ..CaseFilter::default()
    };
    let sort = SortKey::parse(params.get("sortBy"));
    let descending = params.get("sortOrder").is_none_or(|o| o == "desc");
    let (cases, total) = store::list(&state.db, &filter, sort, descending, page.limit, page.offset()).await?;
    let hydrated = Hydrated::load(state, cases).await?;
    let pop = Populate { citizen: Some(CONTACT), ..Populate::default() };
    let items = hydrated
        .cases
        .iter()
        .map(|c| AvailableCase {
            case: select_fields(to_json(&hydrated.view(c, pop)), params, AVAILABLE_FIELDS),
            case_type: c.case_type,
            has_lawyer_requested: hydrated
                .requests_of(c)
                .iter()
                .any(|r| r.direction == Direction::Lawyer && r.lawyer_id == lawyer.id),
        })
        .collect();
    Ok((to_json(&CasePage { cases: items, pagination: LegacyPagination::of(total, page) }), total, page))
}

/// 3.3 #5: cases assigned to the lawyer, each with its chat. `data: {cases, pagination}`.
pub async fn lawyer_my_cases(state: &AppState, lawyer: &User, params: &Params) -> AppResult<Value> {
    let filter = CaseFilter {
        case_type: case_type_param(params, "caseType"),
        assigned_lawyer: Some(&lawyer.id),
        status: params.filter("status"),
        search: params.get("search"),
        ..CaseFilter::default()
    };
    let pop = Populate { citizen: Some(CONTACT), ..Populate::default() };
    my_cases(state, lawyer, &filter, params, pop, false).await
}

/// my-cases of either side: a page of cases with `caseType` and `chatRoom` (the reader's
/// case chat); citizens also get `requestedLawyers` and `receivedOffers`.
async fn my_cases(
    state: &AppState,
    reader: &User,
    filter: &CaseFilter<'_>,
    params: &Params,
    pop: Populate,
    citizen_view: bool,
) -> AppResult<Value> {
    let page = params.page(10)?;
    let (cases, total) = store::list(&state.db, filter, SortKey::CreatedAt, true, page.limit, page.offset()).await?;
    // Citizens see the chat only once a lawyer is assigned.
    let with_chat: Vec<Id> =
        cases.iter().filter(|c| !citizen_view || c.assigned_lawyer_id.is_some()).map(|c| c.id.clone()).collect();
    let rooms = store::chat_rooms(&state.db, &reader.id, &with_chat).await?;
    let hydrated = Hydrated::load(state, cases).await?;
    let views: Vec<CaseView> = hydrated.cases.iter().map(|c| hydrated.view(c, pop)).collect();
    let items = hydrated
        .cases
        .iter()
        .zip(&views)
        .map(|(c, view)| MyCase {
            case: view,
            case_type: c.case_type,
            chat_room: rooms.get(&c.id).map(ChatRoomView::new),
            requested_lawyers: citizen_view.then_some(view.citizen_requests.as_slice()),
            received_offers: citizen_view.then_some(view.lawyer_requests.as_slice()),
        })
        .collect();
    Ok(to_json(&CasePage { cases: items, pagination: LegacyPagination::of(total, page) }))
}

/// 3.4 #5: the citizen's cases (`type`: all, queries, disputes). `data: {cases, pagination}`.
pub async fn citizen_my_cases(state: &AppState, citizen: &User, params: &Params) -> AppResult<Value> {
    let filter = CaseFilter {
        case_type: case_type_param(params, "type"),
        citizen: Some(&citizen.id),
        status: params.filter("status"),
        search: params.get("search"),
        ..CaseFilter::default()
    };
    let pop = Populate {
        assigned: Some(LAWYER_BRIEF),
        lawyer_requests: Some(LAWYER_BRIEF),
        citizen_requests: Some(LAWYER_BRIEF),
        ..Populate::default()
    };
    my_cases(state, citizen, &filter, params, pop, true).await
}
