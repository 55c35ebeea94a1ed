//! The role views of cases: the open cases a lawyer may take and the my-cases lists of both
//! sides with each case's chat (docs/api.md 3.3 #4, #5; 3.4 #5).

use super::*;

/// 3.3 #4: open cases of both types (pending AND unassigned AND the filters), with whether
/// this lawyer already has an entry. Returns items, total and page.
pub async fn available_cases(state: &AppState, lawyer: &User, params: &Params) -> AppResult<(Vec<Value>, i64, Page)> {
    let page = crate::domain::page::wrapper_page(params)?;
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
        .map(|c| {
            let mut item = select_fields(hydrated.json(c, pop), params, AVAILABLE_FIELDS);
            let requested =
                hydrated.requests_of(c).iter().any(|r| r.direction == Direction::Lawyer && r.lawyer_id == lawyer.id);
            item["caseType"] = json!(c.case_type.as_str());
            item["hasLawyerRequested"] = json!(requested);
            item
        })
        .collect();
    Ok((items, total, page))
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
pub(super) async fn my_cases(
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
    let items: Vec<Value> = hydrated
        .cases
        .iter()
        .map(|c| {
            let mut item = hydrated.json(c, pop);
            item["caseType"] = json!(c.case_type.as_str());
            item["chatRoom"] = chat_room_json(rooms.get(&c.id));
            if citizen_view {
                item["requestedLawyers"] = item["citizenRequests"].clone();
                item["receivedOffers"] = item["lawyerRequests"].clone();
            }
            item
        })
        .collect();
    Ok(json!({"cases": items, "pagination": crate::domain::page::legacy_pagination(total, page)}))
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
