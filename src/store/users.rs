//! Users (docs/api.md 2.2): accounts of every role, with lawyer and student details.

use serde_json::Value;
use sqlx::any::AnyRow;

use crate::db::{Db, Param, RowExt, Sql, Tx};
use crate::ids::Id;
use crate::time::Timestamp;

pub use crate::domain::user::{Role, User, VerificationStatus};

const COLUMNS: &str = "id, name, email, password_hash, role, phone, address, profile_picture, is_verified, is_active, \
    refresh_token_hash, password_reset_hash, password_reset_expires, profile_completion, lawyer_details, \
    student_details, connections, message_requests, created_at, updated_at, \
    email_confirmed_at, email_confirmation_hash, email_confirmation_expires";

impl User {
    fn from_row(row: &AnyRow) -> sqlx::Result<User> {
        let role_raw = row.text("role")?;
        let role = Role::parse(&role_raw).unwrap_or(Role::Citizen);
        Ok(User {
            id: row.id("id")?,
            name: row.text("name")?,
            email: row.text("email")?,
            password_hash: row.text("password_hash")?,
            role,
            phone: row.text_opt("phone")?,
            address: row.json("address")?,
            profile_picture: row.text_opt("profile_picture")?,
            is_verified: row.flag("is_verified")?,
            is_active: row.flag("is_active")?,
            refresh_token_hash: row.text_opt("refresh_token_hash")?,
            password_reset_hash: row.text_opt("password_reset_hash")?,
            password_reset_expires: row.timestamp_opt("password_reset_expires")?,
            email_confirmed_at: row.timestamp_opt("email_confirmed_at")?,
            email_confirmation_hash: row.text_opt("email_confirmation_hash")?,
            email_confirmation_expires: row.timestamp_opt("email_confirmation_expires")?,
            profile_completion: row.json("profile_completion")?,
            lawyer_details: Some(row.json("lawyer_details")?).filter(|v| !v.is_null()),
            student_details: Some(row.json("student_details")?).filter(|v| !v.is_null()),
            connections: row.json("connections")?,
            message_requests: row.json("message_requests")?,
            created_at: row.timestamp("created_at")?,
            updated_at: row.timestamp("updated_at")?,
        })
    }
}

fn json_text(v: &Value) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

/// Binds the first 20 columns of [`COLUMNS`] (all but the email-confirmation state).
fn bind_fields(sql: Sql, u: &User) -> Sql {
    sql.arg(&u.id)
        .arg(&u.name)
        .arg(&u.email)
        .arg(&u.password_hash)
        .arg(u.role.as_str())
        .arg(u.phone.clone())
        .arg(json_text(&u.address))
        .arg(u.profile_picture.clone())
        .arg(u.is_verified)
        .arg(u.is_active)
        .arg(u.refresh_token_hash.clone())
        .arg(u.password_reset_hash.clone())
        .arg(u.password_reset_expires)
        .arg(json_text(&u.profile_completion))
        .arg(u.lawyer_details.as_ref().map(Value::to_string))
        .arg(u.student_details.as_ref().map(Value::to_string))
        .arg(u.connections.to_string())
        .arg(u.message_requests.to_string())
        .arg(u.created_at)
        .arg(u.updated_at)
}

/// Binds the lawyer-directory mirrors: verification status, experience, education.
fn bind_mirrors(sql: Sql, u: &User) -> Sql {
    sql.arg((u.role == Role::Lawyer).then(|| u.verification_status().as_str()))
        // A typed NULL: PostgreSQL refuses a text NULL for a BIGINT column.
        .arg(crate::db::Param::Int(u.experience()))
        .arg(if u.role == Role::Lawyer { u.education() } else { None })
}

async fn sync_specializations(tx: &mut Tx, u: &User) -> sqlx::Result<()> {
    tx.exec(&Sql::new("DELETE FROM lawyer_specializations WHERE user_id = $1").arg(&u.id)).await?;
    if u.role == Role::Lawyer {
        let mut seen = std::collections::HashSet::new();
        for s in u.specializations() {
            if seen.insert(s.clone()) {
                tx.exec(
                    &Sql::new("INSERT INTO lawyer_specializations (user_id, specialization) VALUES ($1, $2)")
                        .arg(&u.id)
                        .arg(s),
                )
                .await?;
            }
        }
    }
    Ok(())
}

/// Inserts a new account. A duplicate email surfaces as a unique violation
/// (see [`crate::db::is_unique_violation`]).
pub async fn insert(db: &Db, u: &User) -> sqlx::Result<()> {
    let mut tx = db.begin().await?;
    insert_in(&mut tx, u).await?;
    tx.commit().await
}

/// [`insert`] inside the caller's transaction (bulk seeding).
pub async fn insert_in(tx: &mut Tx, u: &User) -> sqlx::Result<()> {
    let sql = Sql::new(format!(
        "INSERT INTO users ({COLUMNS}, verification_status, experience, education) VALUES \
         ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26)"
    ));
    let sql = bind_fields(sql, u)
        .arg(u.email_confirmed_at)
        .arg(u.email_confirmation_hash.clone())
        .arg(u.email_confirmation_expires);
    tx.exec(&bind_mirrors(sql, u)).await?;
    sync_specializations(tx, u).await
}

/// Writes every field of the account back (and refreshes `updatedAt`), except the
/// email-confirmation state: only its targeted writes change it, so a save of an account read
/// earlier cannot undo a confirmation made meanwhile.
pub async fn save(db: &Db, u: &mut User) -> sqlx::Result<()> {
    u.updated_at = Timestamp::now();
    let mut tx = db.begin().await?;
    let sql = bind_fields(
        Sql::new(
            "UPDATE users SET name=$2, email=$3, password_hash=$4, role=$5, phone=$6, address=$7, profile_picture=$8, \
             is_verified=$9, is_active=$10, refresh_token_hash=$11, password_reset_hash=$12, password_reset_expires=$13, \
             profile_completion=$14, lawyer_details=$15, student_details=$16, connections=$17, message_requests=$18, \
             created_at=$19, updated_at=$20, verification_status=$21, experience=$22, education=$23 WHERE id=$1",
        ),
        u,
    );
    tx.exec(&bind_mirrors(sql, u)).await?;
    sync_specializations(&mut tx, u).await?;
    tx.commit().await
}

pub async fn get(db: &Db, id: &Id) -> sqlx::Result<Option<User>> {
    db.opt(&Sql::new(format!("SELECT {COLUMNS} FROM users WHERE id = $1")).arg(id))
        .await?
        .as_ref()
        .map(User::from_row)
        .transpose()
}

pub async fn find_by_email(db: &Db, email: &str) -> sqlx::Result<Option<User>> {
    db.opt(&Sql::new(format!("SELECT {COLUMNS} FROM users WHERE email = $1")).arg(email))
        .await?
        .as_ref()
        .map(User::from_row)
        .transpose()
}

pub async fn find_by_reset_hash(db: &Db, hash: &str) -> sqlx::Result<Option<User>> {
    db.opt(&Sql::new(format!("SELECT {COLUMNS} FROM users WHERE password_reset_hash = $1")).arg(hash))
        .await?
        .as_ref()
        .map(User::from_row)
        .transpose()
}

/// Users by id, in one statement (for populating references).
pub async fn get_many(db: &Db, ids: &[Id]) -> sqlx::Result<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(format!("SELECT {COLUMNS} FROM users WHERE id IN ("));
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push_bind(id);
    }
    sql.push(")");
    db.all(&sql).await?.iter().map(User::from_row).collect()
}

/// Runs `SELECT <columns> FROM users <tail>` for list queries built by other modules.
pub async fn select(db: &Db, tail: Sql) -> sqlx::Result<Vec<User>> {
    let sql = Sql::new(format!("SELECT {COLUMNS} FROM users ")).append(tail);
    db.all(&sql).await?.iter().map(User::from_row).collect()
}

// Lists and counts for the directory (docs/api.md 3.3 #1, 3.4 #4) and the admin pages (3.2).

/// One page of `SELECT ... FROM users <filter> ORDER BY <order>` and the number of rows the
/// filter matches in all.
///
/// One statement for both: the total is an uncorrelated subquery, which SQLite and PostgreSQL
/// evaluate once per statement, so a page costs one round trip (one hand-off to SQLite's
/// worker thread) instead of two, and the count and the rows see the same snapshot. Only a
/// page past the end, which has no row to carry the total, counts separately.
async fn page_of(db: &Db, filter: Sql, order: &str, limit: i64, offset: i64) -> sqlx::Result<(Vec<User>, i64)> {
    let count = Sql::new("SELECT COUNT(*) FROM users ").append(filter.clone());
    let mut sql = Sql::new(format!("SELECT {COLUMNS}, ("))
        .append(count.clone())
        .append(Sql::new(") AS total FROM users "))
        .append(filter);
    sql.push(" ORDER BY ").push(order).push_page(limit, offset);
    let rows = db.all(&sql).await?;
    let total = match rows.first() {
        Some(row) => row.int("total")?,
        None if offset == 0 => 0,
        None => db.count(&count).await?,
    };
    Ok((rows.iter().map(User::from_row).collect::<sqlx::Result<_>>()?, total))
}

/// What a lawyer list may be sorted by (`sortBy`); other values fall back to `createdAt`,
/// so user input never names a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LawyerSort {
    CreatedAt,
    Name,
    Experience,
}

impl LawyerSort {
    pub fn parse(raw: Option<&str>) -> LawyerSort {
        match raw {
            Some("name") => LawyerSort::Name,
            Some("experience" | "lawyerDetails.experience") => LawyerSort::Experience,
            _ => LawyerSort::CreatedAt,
        }
    }

    fn expression(self) -> &'static str {
        match self {
            LawyerSort::CreatedAt => "created_at",
            LawyerSort::Name => "LOWER(name)",
            // A lawyer without experience sorts as the least experienced on both engines.
            LawyerSort::Experience => "COALESCE(experience, -1)",
        }
    }
}

/// Where a lawyer list's `search` looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LawyerSearchIn {
    /// The public directory: name, specializations, education.
    NameSpecializationEducation,
    /// The citizens' list: name, email, specializations.
    NameEmailSpecialization,
}

/// Filters of a lawyer list; every text is bound, searches are literal (escaped LIKE).
#[derive(Debug, Clone)]
pub struct LawyerQuery {
    /// Exact match on one of the lawyer's specializations.
    pub specialization: Option<String>,
    pub min_experience: Option<i64>,
    pub max_experience: Option<i64>,
    pub search: Option<String>,
    pub search_in: LawyerSearchIn,
    pub sort: LawyerSort,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

const SPECIALIZATION_OF_USER: &str = "EXISTS (SELECT 1 FROM lawyer_specializations ls WHERE ls.user_id = users.id AND ";

/// [`User::is_verified_lawyer`] in SQL (over the `verification_status` mirror).
const VERIFIED_LAWYER: &str = "role = 'lawyer' AND is_verified = TRUE AND verification_status = 'verified'";

/// Active, verified lawyers ([`User::is_active_verified_lawyer`]) matching `q`: one page and
/// the total.
pub async fn listed_lawyers(db: &Db, q: &LawyerQuery) -> sqlx::Result<(Vec<User>, i64)> {
    let mut filter = Sql::new(format!("WHERE {VERIFIED_LAWYER} AND is_active = TRUE"));
    if let Some(s) = &q.specialization {
        filter.push(" AND ").push(SPECIALIZATION_OF_USER).push("ls.specialization = ").push_bind(s).push(")");
    }
    if let Some(min) = q.min_experience {
        filter.push(" AND experience >= ").push_bind(min);
    }
    if let Some(max) = q.max_experience {
        filter.push(" AND experience <= ").push_bind(max);
    }
    if let Some(needle) = &q.search {
        let pattern = crate::db::like_pattern(needle);
        filter.push(" AND (LOWER(name) LIKE ").push_bind(&pattern).push(" ESCAPE '\\' OR ");
        match q.search_in {
            LawyerSearchIn::NameSpecializationEducation => filter.push("LOWER(education) LIKE "),
            LawyerSearchIn::NameEmailSpecialization => filter.push("LOWER(email) LIKE "),
        };
        filter.push_bind(&pattern).push(" ESCAPE '\\' OR ").push(SPECIALIZATION_OF_USER);
        filter.push("LOWER(ls.specialization) LIKE ").push_bind(&pattern).push(" ESCAPE '\\'))");
    }
    let dir = if q.descending { "DESC" } else { "ASC" };
    let order = format!("{} {dir}, id {dir}", q.sort.expression());
    page_of(db, filter, &order, q.limit, q.offset).await
}

/// Filters of the admin user list (docs/api.md 3.2 #3).
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// A role name; an unknown name matches nobody.
    pub role: Option<String>,
    pub active: Option<bool>,
    pub verified: Option<bool>,
    /// Case-insensitive literal substring of name or email.
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Accounts of every role, newest first: one page and the total.
pub async fn list(db: &Db, q: &UserQuery) -> sqlx::Result<(Vec<User>, i64)> {
    let mut filter = Sql::new("WHERE 1 = 1");
    if let Some(role) = &q.role {
        filter.push(" AND role = ").push_bind(role);
    }
    if let Some(active) = q.active {
        filter.push(if active { " AND is_active = TRUE" } else { " AND is_active = FALSE" });
    }
    if let Some(verified) = q.verified {
        filter.push(if verified { " AND is_verified = TRUE" } else { " AND is_verified = FALSE" });
    }
    if let Some(needle) = &q.search {
        let pattern = crate::db::like_pattern(needle);
        filter.push(" AND (LOWER(name) LIKE ").push_bind(&pattern).push(" ESCAPE '\\' OR LOWER(email) LIKE ");
        filter.push_bind(&pattern).push(" ESCAPE '\\')");
    }
    page_of(db, filter, "created_at DESC, id DESC", q.limit, q.offset).await
}

/// Lawyers who are not verified lawyers (pending or rejected, or flagged without a verified
/// status), newest first.
pub async fn unverified_lawyers(db: &Db, limit: i64, offset: i64) -> sqlx::Result<(Vec<User>, i64)> {
    let filter = Sql::new(
        "WHERE role = 'lawyer' AND (is_verified = FALSE OR verification_status IS NULL OR verification_status <> 'verified')",
    );
    page_of(db, filter, "created_at DESC, id DESC", limit, offset).await
}

/// Active accounts of one role.
pub async fn count_active(db: &Db, role: Role) -> sqlx::Result<i64> {
    db.count(&Sql::new("SELECT COUNT(*) FROM users WHERE role = $1 AND is_active = TRUE").arg(role.as_str())).await
}

/// Lawyers waiting for an admin's decision (`verificationStatus: pending`; rejected ones are not waiting).
pub async fn count_pending_lawyers(db: &Db) -> sqlx::Result<i64> {
    db.count(&Sql::new("SELECT COUNT(*) FROM users WHERE role = 'lawyer' AND verification_status = 'pending'")).await
}

/// `(role, number of accounts)` for every role that has accounts.
pub async fn count_by_role(db: &Db) -> sqlx::Result<Vec<(String, i64)>> {
    let rows = db.all(&Sql::new("SELECT role, COUNT(*) AS n FROM users GROUP BY role ORDER BY role")).await?;
    rows.iter().map(|r| Ok((r.text("role")?, r.int("n")?))).collect()
}

// Targeted admin writes: each touches only its own columns, so a concurrent login or profile
// edit of the same account is not overwritten with what the admin's request read earlier.

/// Activates or deactivates an account.
pub async fn set_active(db: &Db, u: &mut User, active: bool) -> sqlx::Result<()> {
    u.is_active = active;
    u.updated_at = Timestamp::now();
    let sql = Sql::new("UPDATE users SET is_active = $2, updated_at = $3 WHERE id = $1");
    db.exec(&sql.arg(&u.id).arg(active).arg(u.updated_at)).await.map(drop)
}

/// Writes a lawyer's verification: `isVerified` and `lawyerDetails` (whose
/// `verificationStatus` and notes the caller has set) together.
pub async fn save_verification(db: &Db, u: &mut User) -> sqlx::Result<()> {
    u.updated_at = Timestamp::now();
    db.exec(
        &Sql::new(
            "UPDATE users SET is_verified = $2, lawyer_details = $3, verification_status = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .arg(&u.id)
        .arg(u.is_verified)
        .arg(u.lawyer_details.as_ref().map(Value::to_string))
        .arg((u.role == Role::Lawyer).then(|| u.verification_status().as_str()))
        .arg(u.updated_at),
    )
    .await
    .map(drop)
}

// Targeted writes for the accounts service. Each touches only its own columns, so a login, a
// token rotation or a profile edit cannot undo a concurrent admin change (deactivation,
// verification) made between reading the account and writing it.

/// Replaces the stored refresh-token digest (`None`: no session can refresh any more).
pub async fn set_refresh_token_hash(db: &Db, id: &Id, hash: Option<&str>) -> sqlx::Result<()> {
    db.exec(&Sql::new("UPDATE users SET refresh_token_hash = $2 WHERE id = $1").arg(id).arg(hash.map(str::to_string)))
        .await
        .map(drop)
}

/// Rotates the refresh-token digest only while it still is `current`: of two concurrent
/// refreshes presenting one token, exactly one wins.
pub async fn rotate_refresh_token_hash(db: &Db, id: &Id, current: &str, next: &str) -> sqlx::Result<bool> {
    let changed = db
        .exec(
            &Sql::new("UPDATE users SET refresh_token_hash = $3 WHERE id = $1 AND refresh_token_hash = $2")
                .arg(id)
                .arg(current)
                .arg(next),
        )
        .await?;
    Ok(changed == 1)
}

/// The single-use tokens emailed to an account's owner. Only each token's SHA-256 digest is
/// stored, with its expiry; redeeming the token clears both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailedToken {
    PasswordReset,
    EmailConfirmation,
}

impl EmailedToken {
    /// The (digest, expiry) columns.
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            EmailedToken::PasswordReset => ("password_reset_hash", "password_reset_expires"),
            EmailedToken::EmailConfirmation => ("email_confirmation_hash", "email_confirmation_expires"),
        }
    }
}

/// Stores the digest and expiry of a newly issued token of `kind`, replacing any earlier one.
pub async fn set_emailed_token(
    db: &Db,
    id: &Id,
    kind: EmailedToken,
    hash: &str,
    expires: Timestamp,
) -> sqlx::Result<()> {
    let (digest, expiry) = kind.columns();
    db.exec(
        &Sql::new(format!("UPDATE users SET {digest} = $2, {expiry} = $3 WHERE id = $1"))
            .arg(id)
            .arg(hash)
            .arg(expires),
    )
    .await
    .map(drop)
}

/// Redeems an unexpired token of `kind` in one statement: clears it, sets `updatedAt` and
/// applies `also` (further `SET` assignments; `$2` is `now`, and `extra` binds `$3` on).
/// Returns the account's id; `None` when the token is unknown, expired or was redeemed
/// concurrently.
async fn redeem_emailed_token(
    db: &Db,
    kind: EmailedToken,
    hash: &str,
    now: Timestamp,
    also: &str,
    extra: Vec<Param>,
) -> sqlx::Result<Option<Id>> {
    let (digest, expiry) = kind.columns();
    let sql = Sql::new(format!(
        "UPDATE users SET {digest} = NULL, {expiry} = NULL, updated_at = $2{also} WHERE {digest} = $1 AND {expiry} > $2 \
         RETURNING id"
    ));
    let sql = extra.into_iter().fold(sql.arg(hash).arg(now), Sql::arg);
    db.opt(&sql).await?.map(|row| row.id("id")).transpose()
}

/// Confirms the email address of the account holding this unexpired confirmation token;
/// returns its id.
pub async fn confirm_email(db: &Db, confirmation_hash: &str, now: Timestamp) -> sqlx::Result<Option<Id>> {
    redeem_emailed_token(
        db,
        EmailedToken::EmailConfirmation,
        confirmation_hash,
        now,
        ", email_confirmed_at = $2",
        Vec::new(),
    )
    .await
}

/// Replaces the password hash. With `end_sessions` the stored refresh token and any pending
/// reset token are cleared too (a password change); without, only the hash changes (the
/// transparent bcrypt-to-argon2 upgrade at login).
pub async fn set_password_hash(db: &Db, id: &Id, hash: &str, end_sessions: bool) -> sqlx::Result<()> {
    let sql = if end_sessions {
        Sql::new(
            "UPDATE users SET password_hash = $2, refresh_token_hash = NULL, password_reset_hash = NULL, \
             password_reset_expires = NULL, updated_at = $3 WHERE id = $1",
        )
        .arg(id)
        .arg(hash)
        .arg(Timestamp::now())
    } else {
        Sql::new("UPDATE users SET password_hash = $2 WHERE id = $1").arg(id).arg(hash)
    };
    db.exec(&sql).await.map(drop)
}

/// Redeems an unexpired reset token: sets the password and clears the reset and refresh tokens.
/// Returns the account's id; `None` when the token is unknown, expired or was redeemed concurrently.
pub async fn redeem_password_reset(
    db: &Db,
    reset_hash: &str,
    now: Timestamp,
    password_hash: &str,
) -> sqlx::Result<Option<Id>> {
    let also = ", password_hash = $3, refresh_token_hash = NULL";
    redeem_emailed_token(db, EmailedToken::PasswordReset, reset_hash, now, also, vec![password_hash.into()]).await
}

/// Writes what a profile update may change (name, phone, address, lawyer and student
/// details, with the directory mirrors) and refreshes `updatedAt`; role, status, verification
/// flags and credentials are left as stored.
pub async fn save_profile(db: &Db, u: &mut User) -> sqlx::Result<()> {
    u.updated_at = Timestamp::now();
    let mut tx = db.begin().await?;
    tx.exec(
        &Sql::new(
            "UPDATE users SET name = $2, phone = $3, address = $4, lawyer_details = $5, student_details = $6, \
             updated_at = $7, verification_status = $8, experience = $9, education = $10 WHERE id = $1",
        )
        .arg(&u.id)
        .arg(&u.name)
        .arg(u.phone.clone())
        .arg(json_text(&u.address))
        .arg(u.lawyer_details.as_ref().map(Value::to_string))
        .arg(u.student_details.as_ref().map(Value::to_string))
        .arg(u.updated_at)
        .arg((u.role == Role::Lawyer).then(|| u.verification_status().as_str()))
        .arg(Param::Int(u.experience()))
        .arg(if u.role == Role::Lawyer { u.education() } else { None }),
    )
    .await?;
    sync_specializations(&mut tx, u).await?;
    tx.commit().await
}
