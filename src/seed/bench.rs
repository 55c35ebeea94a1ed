//! `nyaya seed-bench`: many accounts fast, for load tests (`bench/scale.sh`). Citizens,
//! verified lawyers, lawyers awaiting verification and admins, each citizen already connected
//! to a few lawyers with an active direct chat, so chats work from the first second. Logging
//! every account in through argon2 would take hours, so the accounts file carries an access
//! token per account, minted with the server's own issuer (same `JWT_SECRET`).
//!
//! Fast: one password hash for everyone, inserts batched in transactions. Idempotent: accounts
//! (by email) and connections (by pair) that exist are kept, so a rerun only adds what is missing.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::db::{Db, RowExt, Sql, Tx};
use crate::domain::chat::{ChatStatus, ChatType};
use crate::domain::connection::ConnectionStatus;
use crate::ids::Id;
use crate::security::Tokens;
use crate::store::chats::{self, Chat};
use crate::store::connections::{self, Connection};
use crate::store::users::{self, Role, User};

/// Rows written per transaction.
const BATCH: usize = 1000;

/// How many accounts of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub citizens: usize,
    pub lawyers: usize,
    /// Lawyers awaiting verification (for admins to verify; not in the accounts file).
    pub pending: usize,
    pub admins: usize,
    /// Lawyers each citizen is connected to.
    pub links: usize,
}

/// A chat an account can use from the start.
#[derive(Debug, Clone)]
pub struct BenchChat {
    pub chat_id: String,
    pub partner: Id,
    pub connection: Id,
}

/// One simulated user of the load test.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: Id,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub chats: Vec<BenchChat>,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Report {
    pub accounts: Vec<Account>,
    pub users_created: usize,
    pub connections_created: usize,
}

fn citizen(i: usize) -> User {
    let mut u = super::base_user(
        format!("Bench Citizen {i:06}"),
        format!("bench.citizen{i:06}@example.com"),
        Role::Citizen,
        24,
    );
    u.address = super::address(i, "Bench Street");
    u
}

fn planned_users(plan: &Plan) -> Vec<User> {
    let mut out = Vec::with_capacity(plan.citizens + plan.lawyers + plan.pending + plan.admins);
    out.extend((0..plan.citizens).map(citizen));
    out.extend((0..plan.lawyers).map(|i| super::lawyer(i, format!("bench.lawyer{i:06}@example.com"), "verified", 48)));
    out.extend((0..plan.pending).map(|k| {
        let mut u = super::lawyer(k, format!("bench.pending{k:06}@example.com"), "pending", 12);
        // Unique, so a load test can find the lawyer in the directory once verified.
        u.name = format!("Bench Pending {k:06}");
        u
    }));
    out.extend((0..plan.admins).map(|k| {
        super::base_user(format!("Bench Admin {k:03}"), format!("bench.admin{k:03}@example.com"), Role::Admin, 24 * 30)
    }));
    out
}

/// Writes `items` in transactions of [`BATCH`].
async fn in_batches<T>(
    db: &Db,
    items: &[T],
    write: impl for<'a> AsyncFn(&'a mut Tx, &'a T) -> sqlx::Result<()>,
) -> anyhow::Result<()> {
    for chunk in items.chunks(BATCH) {
        let mut tx = db.begin().await?;
        for item in chunk {
            write(&mut tx, item).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Creates whatever of the plan is missing and returns the simulated users (citizens, verified
/// lawyers, admins) with their chats.
pub async fn run(db: &Db, plan: &Plan, password: &str) -> anyhow::Result<Report> {
    super::check_password(password)?;
    let mut report = Report::default();
    let mut planned = planned_users(plan);
    let rows = db.all(&Sql::new("SELECT id, email FROM users WHERE email LIKE 'bench.%'")).await?;
    let mut ids: HashMap<String, Id> = HashMap::with_capacity(rows.len());
    for row in &rows {
        ids.insert(row.text("email")?, row.id("id")?);
    }
    let missing: Vec<&User> = planned.iter().filter(|u| !ids.contains_key(&u.email)).collect();
    if !missing.is_empty() {
        let hash = crate::security::hash_password_async(password.to_string()).await?;
        let missing: Vec<User> =
            missing.into_iter().map(|u| User { password_hash: hash.clone(), ..u.clone() }).collect();
        in_batches(db, &missing, async |tx, u| users::insert_in(tx, u).await)
            .await
            .context("creating bench accounts")?;
        report.users_created = missing.len();
    }
    for u in &mut planned {
        if let Some(id) = ids.get(&u.email) {
            u.id = id.clone();
        }
    }

    let (citizens, rest) = planned.split_at(plan.citizens);
    let (lawyers, rest) = rest.split_at(plan.lawyers);
    let admins = &rest[plan.pending..];
    let links = plan.links.min(plan.lawyers);
    let pairs: Vec<(&User, &User)> = citizens
        .iter()
        .enumerate()
        .flat_map(|(i, c)| (0..links).map(move |j| (c, &lawyers[(i * links + j) % lawyers.len()])))
        .collect();

    let rows = db.all(&Sql::new("SELECT id, citizen_id, lawyer_id, chat_id FROM direct_connections")).await?;
    let mut existing: HashMap<(Id, Id), (Id, String)> = HashMap::with_capacity(rows.len());
    for row in &rows {
        if let Some(chat_id) = row.text_opt("chat_id")? {
            existing.insert((row.id("citizen_id")?, row.id("lawyer_id")?), (row.id("id")?, chat_id));
        }
    }
    let mut new_links = Vec::new();
    for (c, l) in &pairs {
        if existing.contains_key(&(c.id.clone(), l.id.clone())) {
            continue;
        }
        let (connection, chat) = accepted_link(c, l);
        existing.insert((c.id.clone(), l.id.clone()), (connection.id.clone(), chat.chat_id.clone()));
        new_links.push((connection, chat));
    }
    in_batches(db, &new_links, async |tx, (connection, chat)| {
        connections::insert_in(tx, connection).await?;
        chats::insert_in(tx, chat).await
    })
    .await
    .context("creating bench connections")?;
    report.connections_created = new_links.len();

    let mut chats_of: HashMap<Id, Vec<BenchChat>> = HashMap::new();
    for (c, l) in &pairs {
        let (connection, chat_id) = &existing[&(c.id.clone(), l.id.clone())];
        for (me, partner) in [(&c.id, &l.id), (&l.id, &c.id)] {
            chats_of.entry(me.clone()).or_default().push(BenchChat {
                chat_id: chat_id.clone(),
                partner: partner.clone(),
                connection: connection.clone(),
            });
        }
    }
    report.accounts = citizens
        .iter()
        .chain(lawyers)
        .chain(admins)
        .map(|u| Account {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            role: u.role,
            chats: chats_of.remove(&u.id).unwrap_or_default(),
        })
        .collect();
    Ok(report)
}

/// An accepted connection between a citizen and a lawyer, with its active direct chat.
fn accepted_link(citizen: &User, lawyer: &User) -> (Connection, Chat) {
    let metadata = json!({
        "citizenLocation": citizen.address.get("city").cloned().unwrap_or(json!("Unknown")),
        "lawyerSpecialization": lawyer.specializations(),
        "connectionType": "general_consultation",
    });
    let mut connection =
        Connection::new(citizen.id.clone(), lawyer.id.clone(), "Seeded for a load test.".into(), metadata);
    let parties = [(citizen.id.clone(), "citizen".to_string()), (lawyer.id.clone(), "lawyer".to_string())];
    let mut chat = Chat::new(
        crate::service::chats::direct_chat_id(&citizen.id, &lawyer.id),
        ChatType::Direct,
        ChatStatus::Active,
        &parties,
    );
    chat.direct_connection = Some(connection.id.clone());
    connection.status = ConnectionStatus::Accepted;
    connection.responded_at = Some(connection.requested_at);
    connection.chat_id = Some(chat.chat_id.clone());
    (connection, chat)
}

/// One JSON line per account: `{id, email, name, role, token, chats: [{chatId, partner, connectionId}]}`.
pub fn write_accounts(path: &Path, accounts: &[Account], tokens: &Tokens) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for a in accounts {
        let user = User { id: a.id.clone(), ..User::new(a.name.clone(), a.email.clone(), String::new(), a.role) };
        let chats: Vec<_> = a
            .chats
            .iter()
            .map(|c| json!({"chatId": c.chat_id, "partner": c.partner, "connectionId": c.connection}))
            .collect();
        let line = json!({
            "id": a.id,
            "email": a.email,
            "name": a.name,
            "role": a.role.as_str(),
            "token": tokens.issue(&user).access,
            "chats": chats,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_unique_and_pending_names_searchable() {
        let plan = Plan { citizens: 30, lawyers: 5, pending: 3, admins: 2, links: 2 };
        let users = planned_users(&plan);
        let emails: std::collections::HashSet<_> = users.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(emails.len(), 40);
        let pending: Vec<_> = users.iter().filter(|u| u.role == Role::Lawyer && !u.is_verified).collect();
        assert_eq!(pending.len(), 3);
        assert!(pending.iter().all(|u| u.name.starts_with("Bench Pending ")));
    }
}
