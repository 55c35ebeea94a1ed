//! Citizen-lawyer links (docs/api.md 2.6, 3.3 #7-16, 3.4 #3, #6, #15-19): direct connection
//! requests and their answers, the legacy client links and message requests, and the lists
//! built on them. Every write invalidates `CIT:<citizen>` and `LAW:<lawyer>` (3.12) and
//! notifies the other party (4.3); a new direct request and its acceptance are also emailed.

use std::collections::HashMap;

use serde_json::Value;

use crate::cache::Tag;
use crate::db::is_unique_violation;
use crate::domain::chat::{ChatStatus, ChatType};
use crate::domain::connection::{ConnectionStatus, LinkType};
use crate::domain::page::Page;
use crate::error::{AppError, AppResult};
use crate::ids::Id;
use crate::mail::templates;
use crate::service::cases::ActivityItem;
use crate::service::chats::{self, ChatShape, ChatView};
use crate::service::people::{
    self, CONTACT_ADDRESS, LAWYER_BRIEF, LAWYER_CONTACT, NAME_EMAIL, NAME_EMAIL_ROLE, NAME_ROLE, Users, actor,
    lawyer_brief, load_users, populate, user_ref,
};
use crate::state::AppState;
use crate::store::chats::{self as chat_store, ChatFilter, ChatOrder};
use crate::store::connections::{self as store, Connection, Order, Side};
use crate::store::users::{self, Role, User};
use crate::time::Timestamp;

mod input;
mod views;
pub use input::*;
pub use views::*;

/// Legacy message requests allowed per citizen and lawyer per hour.
pub const MESSAGE_REQUESTS_PER_HOUR: usize = 2;
const DEFAULT_MESSAGE_REQUEST: &str = "Hi, I would like to connect with you for legal assistance.";

/// The lawyer of a pending connection request, with the account's age.
const LAWYER_CONTACT_SINCE: &[&str] = &["name", "email", "phone", "lawyerDetails", "createdAt"];

fn tags(c: &Connection) -> [Tag; 2] {
    [Tag::Cit(c.citizen.clone()), Tag::Law(c.lawyer.clone())]
}

/// The lawyer `citizen` may ask to connect ([`User::may_reach_out_to`], the rule of direct
/// chats), or 404 "Lawyer not found or not verified".
async fn requested_lawyer(state: &AppState, citizen: &User, id: &Id) -> AppResult<User> {
    users::get(&state.db, id)
        .await?
        .filter(|lawyer| citizen.may_reach_out_to(lawyer))
        .ok_or_else(|| AppError::not_found("Lawyer not found or not verified"))
}

// ---- direct connections: citizen side ----

/// 3.4 #15: a citizen asks a lawyer to connect. A rejected request is reopened; pending,
/// accepted and blocked pairs are refused. Returns the connection id.
pub async fn request_connection(
    state: &AppState,
    citizen: &User,
    lawyer_id: &Id,
    input: ConnectionRequest,
) -> AppResult<Id> {
    let ConnectionRequest { message, connection_type } = input;
    let lawyer = requested_lawyer(state, citizen, lawyer_id).await?;
    let existing = store::find_pair(&state.db, &citizen.id, &lawyer.id).await?;
    let (connection, created) = match existing {
        Some(c) if c.status == ConnectionStatus::Blocked || !c.is_active => {
            return Err(AppError::forbidden("You cannot send a connection request to this lawyer"));
        }
        Some(c) if c.status == ConnectionStatus::Pending => {
            return Err(AppError::bad_request("You already have a pending connection request with this lawyer"));
        }
        Some(c) if c.status == ConnectionStatus::Accepted => {
            return Err(AppError::bad_request("You are already connected with this lawyer"));
        }
        Some(mut c) => {
            debug_assert_eq!(c.status, ConnectionStatus::Rejected);
            let now = Timestamp::now();
            // The stored metadata as it is (an import may hold other keys), with the new type.
            let mut metadata = c.metadata.clone();
            if !metadata.is_object() {
                metadata = Value::Object(Default::default());
            }
            metadata["connectionType"] = Value::from(connection_type.as_str());
            if !store::reopen(&state.db, &c.id, &message, &metadata, now).await? {
                return Err(AppError::bad_request("You already have a pending connection request with this lawyer"));
            }
            c.status = ConnectionStatus::Pending;
            c.request_message = message.clone();
            c.requested_at = now;
            c.responded_at = None;
            c.response_message = None;
            c.metadata = metadata;
            c.updated_at = now;
            (c, false)
        }
        None => {
            let city =
                citizen.address.get("city").and_then(Value::as_str).filter(|c| !c.is_empty()).unwrap_or("Unknown");
            let metadata = chats::view_json(ConnectionMetadata {
                citizen_location: city,
                lawyer_specialization: lawyer.specializations(),
                connection_type,
            });
            let c = Connection::new(citizen.id.clone(), lawyer.id.clone(), message.clone(), metadata);
            match store::insert(&state.db, &c).await {
                Ok(()) => (c, true),
                Err(e) if is_unique_violation(&e) => {
                    return Err(AppError::bad_request(
                        "You already have a pending connection request with this lawyer",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    state.cache.invalidate(tags(&connection)).await;

    let payload = NewConnectionRequest {
        connection_id: &connection.id,
        citizen: populate(citizen, NAME_EMAIL),
        message: &message,
        connection_type,
        timestamp: Timestamp::now(),
    };
    state.notifier.to_user(&lawyer.id, "new_connection_request", chats::view_json(payload));
    let email =
        templates::connection_request(&lawyer.email, &lawyer.name, &citizen.name, &message, &state.config.frontend_url);
    crate::service::background::send_email(state, email).await;
    if created {
        let activity = ActivityItem {
            id: &connection.id,
            kind: "connection",
            title: "Direct Lawyer Connection",
            description: &format!("Connection request sent to {}", lawyer.name),
            status: connection.status.as_str(),
            timestamp: connection.created_at,
            assigned_lawyer: Some(populate(&lawyer, LAWYER_BRIEF)),
            category: "consultation",
            priority: "medium",
            dispute_type: None,
        };
        state.notifier.to_user(&citizen.id, "new_activity", chats::view_json(activity));
        let stats = store::citizen_stats(&state.db, &citizen.id).await?;
        let stats = chats::view_json(CitizenStatsPayload {
            total_cases: stats.total_cases,
            active_cases: stats.total_cases - stats.resolved_cases,
            resolved_cases: stats.resolved_cases,
            connected_lawyers: stats.connected_lawyers,
            pending_requests: stats.pending_requests,
            received_offers: 0,
        });
        state.notifier.to_user(&citizen.id, "dashboard_stats_updated", stats.clone());
        state.notifier.to_user(&citizen.id, "quick_stats_updated", stats);
    }
    Ok(connection.id)
}

/// 3.4 #16: a citizen withdraws their own pending request (the record is deleted).
pub async fn revoke_connection(state: &AppState, citizen: &User, id: &Id) -> AppResult<()> {
    let not_found = || AppError::not_found("Connection request not found or already processed");
    let connection = store::get(&state.db, id)
        .await?
        .filter(|c| c.citizen == citizen.id && c.status == ConnectionStatus::Pending)
        .ok_or_else(not_found)?;
    if !store::delete_pending(&state.db, id, &citizen.id).await? {
        return Err(not_found());
    }
    state.cache.invalidate(tags(&connection)).await;
    let payload =
        RequestRevoked { connection_id: &connection.id, citizen_id: &citizen.id, timestamp: Timestamp::now() };
    state.notifier.to_user(&connection.lawyer, "connection_request_revoked", chats::view_json(payload));
    Ok(())
}

/// Connection documents with the other party populated.
async fn documents(
    state: &AppState,
    list: &[Connection],
    side: Side<'_>,
    fields: &[&str],
) -> AppResult<Vec<ConnectionView>> {
    let users = load_users(
        state,
        list.iter().map(|c| match side {
            Side::Citizen(_) => &c.lawyer,
            Side::Lawyer(_) => &c.citizen,
        }),
    )
    .await?;
    Ok(list
        .iter()
        .map(|c| match side {
            Side::Citizen(_) => ConnectionView::new(c, id_json(&c.citizen), user_ref(&users, &c.lawyer, Some(fields))),
            Side::Lawyer(_) => ConnectionView::new(c, user_ref(&users, &c.citizen, Some(fields)), id_json(&c.lawyer)),
        })
        .collect())
}

/// Accepted connections of one side with the other party and `chatInfo` (3.3 #16, 3.4 #17).
async fn connected(state: &AppState, viewer: &User, side: Side<'_>, fields: &[&str], page: Page) -> AppResult<Value> {
    let total = store::count(&state.db, side, ConnectionStatus::Accepted).await?;
    let list = store::list(&state.db, side, ConnectionStatus::Accepted, Order::RespondedDesc, page).await?;
    let chat_ids: Vec<String> = list.iter().filter_map(|c| c.chat_id.clone()).collect();
    let mut infos = chats::chat_infos(state, &viewer.id, &chat_ids).await?;
    let docs = documents(state, &list, side, fields).await?;
    let items = list
        .iter()
        .zip(docs)
        .map(|(c, connection)| {
            let chat_info = c.chat_id.as_ref().and_then(|id| infos.remove(id));
            ConnectedView { connection, chat_info }
        })
        .collect();
    Ok(chats::view_json(ConnectionsPage::new(items, total, page)))
}

/// 3.4 #17.
pub async fn connected_lawyers(state: &AppState, citizen: &User, page: Page) -> AppResult<Value> {
    connected(state, citizen, Side::Citizen(&citizen.id), LAWYER_CONTACT, page).await
}

/// 3.4 #18: the citizen's pending requests, newest first, in the original's per-lawyer
/// grouping (`requestCount`, `allRequests`). A pair has one record, so each group has one.
pub async fn pending_requests_of_citizen(state: &AppState, citizen: &User, page: Page) -> AppResult<Value> {
    let side = Side::Citizen(&citizen.id);
    let total = store::count(&state.db, side, ConnectionStatus::Pending).await?;
    let list = store::list(&state.db, side, ConnectionStatus::Pending, Order::RequestedDesc, page).await?;
    let items = documents(state, &list, side, LAWYER_CONTACT_SINCE)
        .await?
        .into_iter()
        .map(|connection| PendingGroupView { all_requests: vec![connection.clone()], connection, request_count: 1 })
        .collect();
    Ok(chats::view_json(RequestsPage::new(items, total, page)))
}

/// 3.4 #19: the chats of accepted connections, most recent activity first.
pub async fn direct_chats_of_citizen(state: &AppState, citizen: &User, page: Page) -> AppResult<Value> {
    let total = store::count_with_chats_of_citizen(&state.db, &citizen.id).await?;
    let list = store::with_chats_of_citizen(&state.db, &citizen.id, page).await?;
    let chat_ids: Vec<String> = list.iter().filter_map(|c| c.chat_id.clone()).collect();
    let found = chat_store::find_many_by_chat_id(&state.db, &chat_ids).await?;
    let refs: Vec<Id> = found.iter().map(|c| c.id.clone()).collect();
    let unread = chat_store::unread_counts(&state.db, &citizen.id, &refs).await?;
    let users =
        load_users(state, list.iter().map(|c| &c.lawyer).chain(found.iter().flat_map(chats::chat_user_ids))).await?;
    let by_chat_id: HashMap<&str, &chat_store::Chat> = found.iter().map(|c| (c.chat_id.as_str(), c)).collect();
    let items = list
        .iter()
        .filter_map(|c| {
            let chat = by_chat_id.get(c.chat_id.as_deref()?)?;
            Some(DirectChatItem {
                connection_id: c.id.clone(),
                chat_id: chat.chat_id.clone(),
                lawyer: user_ref(&users, &c.lawyer, Some(LAWYER_BRIEF)),
                status: chat.status,
                last_message: chats::last_message(chat, &users, Some(NAME_ROLE)),
                unread_count: unread.get(&chat.id).copied().unwrap_or(0),
                connected_at: c.responded_at,
                participants: chats::participants(chat, &users, Some(NAME_ROLE)),
            })
        })
        .collect();
    Ok(chats::view_json(ChatsPage::new(items, total, page)))
}

// ---- direct connections: lawyer side ----

/// 3.3 #13: pending requests addressed to the lawyer, newest first.
pub async fn pending_requests_of_lawyer(state: &AppState, lawyer: &User, page: Page) -> AppResult<Value> {
    let side = Side::Lawyer(&lawyer.id);
    let total = store::count(&state.db, side, ConnectionStatus::Pending).await?;
    let list = store::list(&state.db, side, ConnectionStatus::Pending, Order::RequestedDesc, page).await?;
    let docs = documents(state, &list, side, CONTACT_ADDRESS).await?;
    Ok(chats::view_json(RequestsPage::new(docs, total, page)))
}

/// 3.3 #16.
pub async fn connected_citizens(state: &AppState, lawyer: &User, page: Page) -> AppResult<Value> {
    connected(state, lawyer, Side::Lawyer(&lawyer.id), CONTACT_ADDRESS, page).await
}

/// The lawyer's own pending, active request, or 404 "Connection request not found".
async fn own_pending(state: &AppState, lawyer: &User, id: &Id) -> AppResult<Connection> {
    store::get(&state.db, id)
        .await?
        .filter(|c| c.lawyer == lawyer.id && c.status == ConnectionStatus::Pending && c.is_active)
        .ok_or_else(|| AppError::not_found("Connection request not found"))
}

/// The lawyer's answer to a pending request: stores it and returns the updated record with
/// its citizen.
async fn answer(
    state: &AppState,
    lawyer: &User,
    id: &Id,
    status: ConnectionStatus,
    response: &str,
) -> AppResult<(Connection, User)> {
    let mut c = own_pending(state, lawyer, id).await?;
    let citizen =
        users::get(&state.db, &c.citizen).await?.ok_or_else(|| AppError::not_found("Connection request not found"))?;
    let chat_id = (status == ConnectionStatus::Accepted).then(|| chats::direct_chat_id(&c.citizen, &c.lawyer));
    let now = Timestamp::now();
    if !store::respond(&state.db, &c.id, status, response, chat_id.as_deref(), now).await? {
        return Err(AppError::not_found("Connection request not found"));
    }
    c.status = status;
    c.responded_at = Some(now);
    c.response_message = Some(response.to_string());
    c.chat_id = c.chat_id.take().or(chat_id);
    c.updated_at = now;
    state.cache.invalidate(tags(&c)).await;
    Ok((c, citizen))
}

/// 3.3 #14: accepts a request and opens (or reactivates) the direct chat.
pub async fn accept_connection(state: &AppState, lawyer: &User, id: &Id, input: &ConnectionAnswer) -> AppResult<Value> {
    let response = input.response().to_string();
    let (c, citizen) = answer(state, lawyer, id, ConnectionStatus::Accepted, &response).await?;
    let chat = chats::activate_direct_chat(state, &citizen, lawyer, &c.id).await?;
    let payload = RequestAnswered {
        connection_id: &c.id,
        chat_id: Some(&chat.chat_id),
        lawyer: lawyer_brief(lawyer),
        response_message: &response,
        timestamp: Timestamp::now(),
    };
    state.notifier.to_user(&citizen.id, "connection_request_accepted", chats::view_json(payload));
    let frontend = &state.config.frontend_url;
    let email = templates::connection_accepted(
        &citizen.email,
        &citizen.name,
        &lawyer.name,
        Some(&response),
        &chat.chat_id,
        frontend,
    );
    crate::service::background::send_email(state, email).await;
    let citizen_ref = populate(&citizen, NAME_EMAIL);
    let connection = ConnectionView::new(&c, citizen_ref, id_json(&c.lawyer));
    Ok(chats::view_json(AcceptedView { connection, chat_id: chat.chat_id }))
}

/// 3.3 #15.
pub async fn reject_connection(state: &AppState, lawyer: &User, id: &Id, input: &ConnectionAnswer) -> AppResult<Value> {
    let response = input.response().to_string();
    let (c, citizen) = answer(state, lawyer, id, ConnectionStatus::Rejected, &response).await?;
    let payload = RequestAnswered {
        connection_id: &c.id,
        chat_id: None,
        lawyer: lawyer_brief(lawyer),
        response_message: &response,
        timestamp: Timestamp::now(),
    };
    state.notifier.to_user(&citizen.id, "connection_request_rejected", chats::view_json(payload));
    let citizen_ref = populate(&citizen, NAME_EMAIL);
    Ok(chats::view_json(RejectedView { connection: ConnectionView::new(&c, citizen_ref, id_json(&c.lawyer)) }))
}

// ---- legacy links (`users.connections`) ----

/// The legacy links of one type: `(user id, connectedAt)` in stored order.
fn legacy_links(user: &User, connection_type: LinkType) -> Vec<(Id, String)> {
    user.connections
        .as_array()
        .map(|links| {
            links
                .iter()
                .filter(|l| l.get("connectionType").and_then(Value::as_str) == Some(connection_type.as_str()))
                .filter_map(|l| {
                    let id = l.get("userId").and_then(Value::as_str)?.parse().ok()?;
                    let at = l.get("connectedAt").and_then(Value::as_str).unwrap_or_default().to_string();
                    Some((id, at))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Linked users of `role` with `connectedAt`, in link order; users gone or of another role
/// are skipped (the original's populate `match`).
async fn linked(
    state: &AppState,
    owner: &User,
    connection_type: LinkType,
    role: Role,
    fields: &[&str],
) -> AppResult<Vec<LinkedUser>> {
    let links = legacy_links(owner, connection_type);
    let users: Users = load_users(state, links.iter().map(|(id, _)| id)).await?;
    Ok(links
        .iter()
        .filter_map(|(id, at)| {
            let user = users.get(id).filter(|u| u.role == role)?;
            Some(LinkedUser { user: populate(user, fields), connected_at: at.clone() })
        })
        .collect())
}

fn page_of<T>(items: Vec<T>, page: Page) -> Vec<T> {
    items.into_iter().skip(page.offset() as usize).take(page.limit as usize).collect()
}

/// 3.3 #7: the lawyer's legacy clients as `(page items, total)` for the wrapper style.
pub async fn my_clients(state: &AppState, lawyer: &User, page: Page) -> AppResult<(Vec<LinkedUser>, i64)> {
    let all = linked(state, lawyer, LinkType::Client, Role::Citizen, &["name", "email", "phone", "createdAt"]).await?;
    let total = all.len() as i64;
    Ok((page_of(all, page), total))
}

/// 3.4 #3: the citizen's legacy lawyers.
pub async fn my_lawyers(state: &AppState, citizen: &User, page: Page) -> AppResult<Value> {
    let all = linked(state, citizen, LinkType::Lawyer, Role::Lawyer, LAWYER_CONTACT_SINCE).await?;
    let total = all.len() as i64;
    Ok(chats::view_json(LawyersPage::new(page_of(all, page), total, page)))
}

fn legacy_link(user: &Id, connection_type: LinkType, at: &str) -> Value {
    chats::view_json(LegacyLink { user_id: user, connection_type, connected_at: at, id: Id::new() })
}

/// 3.3 #9: the legacy "accept client": links the lawyer and an active citizen both ways.
pub async fn accept_client(state: &AppState, lawyer: &User, citizen_id: &Id) -> AppResult<()> {
    let mut citizen = users::get(&state.db, citizen_id)
        .await?
        .filter(|u| u.role == Role::Citizen && u.is_active)
        .ok_or_else(|| AppError::not_found("Citizen not found"))?;
    let mut lawyer = lawyer.clone();
    if legacy_links(&lawyer, LinkType::Client).iter().any(|(id, _)| id == citizen_id) {
        return Err(AppError::bad_request("Already connected with this client"));
    }
    let now = crate::time::now_iso();
    push_link(&mut lawyer.connections, legacy_link(citizen_id, LinkType::Client, &now));
    push_link(&mut citizen.connections, legacy_link(&lawyer.id, LinkType::Lawyer, &now));
    users::save(&state.db, &mut lawyer).await?;
    users::save(&state.db, &mut citizen).await?;
    let tags = [Tag::Cit(citizen.id.clone()), Tag::Law(lawyer.id.clone()), Tag::User(lawyer.id.clone())];
    people::user_changed(state, &citizen.id, tags).await;
    let payload = ClientAccepted { lawyer: lawyer_brief(&lawyer) };
    state.notifier.to_user(&citizen.id, "connection_accepted", chats::view_json(payload));
    Ok(())
}

fn push_link(links: &mut Value, link: Value) {
    match links.as_array_mut() {
        Some(list) => list.push(link),
        None => *links = Value::Array(vec![link]),
    }
}

/// 3.4 #6: the legacy message request: at most two per hour per lawyer; opens a pending direct
/// chat with a first message when there is none (the one message a pending chat holds).
/// Returns the chatId.
pub async fn message_request(
    state: &AppState,
    citizen: &User,
    lawyer_id: &Id,
    input: MessageRequest,
) -> AppResult<String> {
    let message = input.message.unwrap_or_else(|| DEFAULT_MESSAGE_REQUEST.to_string());
    // The rule of direct chats (the only way to open a pending one).
    let partner = chats::direct_chat_partner(state, citizen, lawyer_id, "Lawyer not found or not verified").await?;
    let lawyer = partner.user();

    let mut citizen = citizen.clone();
    let now = crate::time::now();
    let hour_ago = crate::time::iso(now - chrono::Duration::hours(1));
    let recent: Vec<Value> = citizen
        .message_requests
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|r| r.get("timestamp").and_then(Value::as_str).is_some_and(|t| t > hour_ago.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let to_lawyer =
        recent.iter().filter(|r| r.get("toUserId").and_then(Value::as_str) == Some(lawyer.id.as_str())).count();
    if to_lawyer >= MESSAGE_REQUESTS_PER_HOUR {
        return Err(AppError::too_many("You can only send 2 message requests per hour to the same lawyer"));
    }
    let mut kept = recent;
    kept.push(chats::view_json(StoredMessageRequest { to_user_id: &lawyer.id, timestamp: now, id: Id::new() }));
    citizen.message_requests = Value::Array(kept);
    users::save(&state.db, &mut citizen).await?;
    people::user_changed(state, &citizen.id, []).await;

    let (chat, created) = chats::open_pending_direct_chat(state, &citizen, &partner).await?;
    if created {
        chats::post_opening_message(state, &chat, &citizen, message.clone()).await?;
    }
    state.cache.invalidate([Tag::Cit(citizen.id.clone()), Tag::Law(lawyer.id.clone())]).await;
    let payload = DirectMessageRequest {
        chat_id: &chat.chat_id,
        message: &message,
        from: actor(&citizen),
        timestamp: Timestamp::now(),
    };
    state.notifier.to_user(&lawyer.id, "direct_message_request", chats::view_json(payload));
    Ok(chat.chat_id)
}

// ---- legacy direct chats of a lawyer ----

const LAWYER_CHAT_SHAPE: ChatShape = ChatShape { participants: Some(NAME_EMAIL_ROLE), last_sender: Some(NAME_ROLE) };

/// One page of the lawyer's direct chats with `status` and their total.
async fn lawyer_direct_chats(
    state: &AppState,
    lawyer: &User,
    status: ChatStatus,
    order: ChatOrder,
    page: Page,
) -> AppResult<(Vec<ChatView>, i64)> {
    let filter = ChatFilter {
        participant: Some(&lawyer.id),
        chat_type: Some(ChatType::Direct),
        status: Some(status),
        active_only: false,
    };
    let total = chat_store::count(&state.db, &filter).await?;
    let list = chat_store::list(&state.db, &filter, order, page).await?;
    Ok((chats::chat_documents(state, &list, LAWYER_CHAT_SHAPE, None).await?, total))
}

/// 3.3 #10: pending direct chats (legacy message requests), newest first.
pub async fn pending_direct_requests(state: &AppState, lawyer: &User, page: Page) -> AppResult<Value> {
    let (requests, total) =
        lawyer_direct_chats(state, lawyer, ChatStatus::Pending, ChatOrder::CreatedDesc, page).await?;
    Ok(chats::view_json(RequestsPage::new(requests, total, page)))
}

/// 3.3 #12: active direct chats, most recently updated first.
pub async fn my_direct_chats(state: &AppState, lawyer: &User, page: Page) -> AppResult<Value> {
    let (list, total) = lawyer_direct_chats(state, lawyer, ChatStatus::Active, ChatOrder::UpdatedDesc, page).await?;
    Ok(chats::view_json(ChatsPage::new(list, total, page)))
}

/// 3.3 #11: activates a direct chat of the lawyer and tells the citizen.
pub async fn accept_direct_request(state: &AppState, lawyer: &User, chat_id: &str) -> AppResult<Value> {
    let mut chat = chat_store::find_by_chat_id(&state.db, chat_id)
        .await?
        .filter(|c| c.chat_type == ChatType::Direct && c.participant(&lawyer.id).is_some())
        .ok_or_else(|| AppError::not_found("Chat request not found"))?;
    chat.updated_at = chat_store::set_status(&state.db, &chat.id, ChatStatus::Active, None).await?;
    chat.status = ChatStatus::Active;
    state.cache.invalidate(chat.participants.iter().map(chats::participant_tag)).await;
    let users = load_users(state, chat.participants.iter().map(|p| &p.user_id)).await?;
    let citizen = chat.participants.iter().filter_map(|p| users.get(&p.user_id)).find(|u| u.role == Role::Citizen);
    if let Some(citizen) = citizen {
        let payload =
            DirectRequestAccepted { chat_id: &chat.chat_id, lawyer: lawyer_brief(lawyer), timestamp: Timestamp::now() };
        state.notifier.to_user(&citizen.id, "direct_request_accepted", chats::view_json(payload));
    }
    let shape = ChatShape { participants: Some(NAME_EMAIL_ROLE), last_sender: None };
    Ok(chats::view_json(AcceptedChatView { chat: chats::chat_document(state, &chat, shape).await? }))
}

/// 3.3 #8: one entry per citizen of the lawyer's active direct chats.
pub async fn my_direct_clients(state: &AppState, lawyer: &User, page: Page) -> AppResult<Value> {
    let total = chat_store::count_direct_clients(&state.db, &lawyer.id).await?;
    let rows = chat_store::direct_clients(&state.db, &lawyer.id, page).await?;
    let users = load_users(state, rows.iter().map(|r| &r.citizen)).await?;
    let clients = rows
        .iter()
        .filter_map(|r| {
            Some(DirectClientItem {
                user: populate(users.get(&r.citizen)?, &["name", "email", "phone", "role"]),
                connected_at: r.joined_at.clone(),
                last_chat_update: r.chat_updated_at.clone(),
                chat_id: r.chat_id.clone(),
            })
        })
        .collect();
    Ok(chats::view_json(ClientsPage::new(clients, total, page)))
}
