//! Users (API.md 2.2): accounts of every role, with lawyer and student details.

use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;

use crate::db::{Db, RowExt, Sql, Tx};
use crate::ids::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Citizen,
    Lawyer,
    Admin,
    LawStudent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Lawyer => "lawyer",
            Role::Admin => "admin",
            Role::LawStudent => "law_student",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Some(match raw {
            "citizen" => Role::Citizen,
            "lawyer" => Role::Lawyer,
            "admin" => Role::Admin,
            "law_student" => Role::LawStudent,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationStatus {
    Pending,
    Verified,
    Rejected,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Pending => "pending",
            VerificationStatus::Verified => "verified",
            VerificationStatus::Rejected => "rejected",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: Id,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub phone: Option<String>,
    /// `{street, city, state, pincode}` or null.
    pub address: Value,
    pub profile_picture: Option<String>,
    pub is_verified: bool,
    pub is_active: bool,
    pub refresh_token_hash: Option<String>,
    pub password_reset_hash: Option<String>,
    pub password_reset_expires: Option<String>,
    pub profile_completion: Value,
    /// Lawyers only: the `lawyerDetails` document.
    pub lawyer_details: Option<Value>,
    /// Law students only: the `studentDetails` document.
    pub student_details: Option<Value>,
    /// Legacy `[{userId, connectionType, connectedAt}]` links.
    pub connections: Value,
    pub message_requests: Value,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, name, email, password_hash, role, phone, address, profile_picture, is_verified, is_active, \
    refresh_token_hash, password_reset_hash, password_reset_expires, profile_completion, lawyer_details, \
    student_details, connections, message_requests, created_at, updated_at";

/// `COLUMNS` for reading. sqlx's `Any` driver refuses SQLite columns declared BOOLEAN, so the
/// flags are read as expressions (an integer on SQLite, a boolean on PostgreSQL; `flag`
/// accepts both).
const SELECT_COLUMNS: &str = "id, name, email, password_hash, role, phone, address, profile_picture, \
    (is_verified = TRUE) AS is_verified, (is_active = TRUE) AS is_active, \
    refresh_token_hash, password_reset_hash, password_reset_expires, profile_completion, lawyer_details, \
    student_details, connections, message_requests, created_at, updated_at";

impl User {
    /// A new account with the defaults of API.md 2.1/2.2 for its role.
    pub fn new(name: String, email: String, password_hash: String, role: Role) -> User {
        let now = crate::time::now_iso();
        let is_lawyer = role == Role::Lawyer;
        User {
            id: Id::new(),
            name,
            email,
            password_hash,
            role,
            phone: None,
            address: Value::Null,
            profile_picture: None,
            is_verified: !is_lawyer,
            is_active: true,
            refresh_token_hash: None,
            password_reset_hash: None,
            password_reset_expires: None,
            profile_completion: json!({"basicInfo": true, "roleSpecificDetails": !is_lawyer, "documentsUploaded": !is_lawyer}),
            lawyer_details: is_lawyer.then(|| json!({})),
            student_details: (role == Role::LawStudent).then(|| json!({})),
            connections: json!([]),
            message_requests: json!([]),
            created_at: now.clone(),
            updated_at: now,
        }
    }

    pub fn verification_status(&self) -> VerificationStatus {
        match self.lawyer_details.as_ref().and_then(|d| d.get("verificationStatus")).and_then(Value::as_str) {
            Some("verified") => VerificationStatus::Verified,
            Some("rejected") => VerificationStatus::Rejected,
            _ => VerificationStatus::Pending,
        }
    }

    pub fn specializations(&self) -> Vec<String> {
        self.lawyer_details
            .as_ref()
            .and_then(|d| d.get("specialization"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn experience(&self) -> Option<i64> {
        self.lawyer_details.as_ref().and_then(|d| d.get("experience")).and_then(Value::as_f64).map(|e| e as i64)
    }

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
            password_reset_expires: row.text_opt("password_reset_expires")?,
            profile_completion: row.json("profile_completion")?,
            lawyer_details: Some(row.json("lawyer_details")?).filter(|v| !v.is_null()),
            student_details: Some(row.json("student_details")?).filter(|v| !v.is_null()),
            connections: row.json("connections")?,
            message_requests: row.json("message_requests")?,
            created_at: row.text("created_at")?,
            updated_at: row.text("updated_at")?,
        })
    }

    /// The "clean user" of API.md 2.2: what auth and admin responses show of an account.
    pub fn to_clean_json(&self) -> Value {
        let mut out = self.base_json();
        match self.role {
            Role::Citizen | Role::Admin => {
                out.insert("isVerified".into(), json!(true));
            }
            Role::Lawyer => {
                let mut details = self.lawyer_details.clone().unwrap_or_else(|| json!({}));
                for key in ["specialization", "verificationDocuments"] {
                    if !details.get(key).is_some_and(Value::is_array) {
                        details[key] = json!([]);
                    }
                }
                if self.lawyer_details.is_none() {
                    out.insert("isVerified".into(), json!(false));
                }
                out.insert("lawyerDetails".into(), details);
            }
            Role::LawStudent => {
                let d = self.student_details.clone().unwrap_or_else(|| json!({}));
                let this_year = chrono::Datelike::year(&chrono::Utc::now());
                let text = |k: &str| d.get(k).cloned().filter(|v| !v.is_null()).unwrap_or(json!(""));
                out.insert(
                    "studentDetails".into(),
                    json!({
                        "universityName": text("universityName"),
                        "enrollmentYear": d.get("enrollmentYear").cloned().filter(|v| !v.is_null()).unwrap_or(json!(this_year)),
                        "semester": d.get("semester").cloned().filter(|v| !v.is_null()).unwrap_or(json!("1st")),
                        "specialization": text("specialization"),
                        "rollNumber": text("rollNumber"),
                    }),
                );
            }
        }
        Value::Object(out)
    }

    fn base_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("_id".into(), json!(self.id));
        out.insert("name".into(), json!(self.name));
        out.insert("email".into(), json!(self.email));
        out.insert("role".into(), json!(self.role.as_str()));
        if let Some(phone) = &self.phone {
            out.insert("phone".into(), json!(phone));
        }
        if !self.address.is_null() {
            out.insert("address".into(), self.address.clone());
        }
        out.insert("profilePicture".into(), json!(self.profile_picture));
        out.insert("isVerified".into(), json!(self.is_verified));
        out.insert("isActive".into(), json!(self.is_active));
        out.insert("profileCompletion".into(), self.profile_completion.clone());
        out.insert("connections".into(), self.connections.clone());
        out.insert("directConnections".into(), json!([]));
        out.insert("createdAt".into(), json!(self.created_at));
        out.insert("updatedAt".into(), json!(self.updated_at));
        out.insert("__v".into(), json!(0));
        out
    }

    /// What anyone may see of a lawyer (directory and public profile): no contact details,
    /// no connections, no verification notes or documents.
    pub fn to_public_json(&self) -> Value {
        let mut details = self.lawyer_details.clone().unwrap_or_else(|| json!({}));
        if let Some(obj) = details.as_object_mut() {
            obj.remove("verificationNotes");
            obj.remove("verificationDocuments");
            if !obj.get("specialization").is_some_and(Value::is_array) {
                obj.insert("specialization".into(), json!([]));
            }
        }
        json!({
            "_id": self.id,
            "name": self.name,
            "role": self.role.as_str(),
            "profilePicture": self.profile_picture,
            "lawyerDetails": details,
            "createdAt": self.created_at,
        })
    }
}

fn json_text(v: &Value) -> Option<String> {
    (!v.is_null()).then(|| v.to_string())
}

fn bind_all(sql: Sql, u: &User) -> Sql {
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
        .arg(u.password_reset_expires.clone())
        .arg(json_text(&u.profile_completion))
        .arg(u.lawyer_details.as_ref().map(Value::to_string))
        .arg(u.student_details.as_ref().map(Value::to_string))
        .arg(u.connections.to_string())
        .arg(u.message_requests.to_string())
        .arg(&u.created_at)
        .arg(&u.updated_at)
        .arg((u.role == Role::Lawyer).then(|| u.verification_status().as_str()))
        // A typed NULL: PostgreSQL refuses a text NULL for a BIGINT column.
        .arg(crate::db::Param::Int(u.experience()))
}

async fn sync_specializations(tx: &mut Tx, u: &User) -> sqlx::Result<()> {
    tx.exec(&Sql::new("DELETE FROM lawyer_specializations WHERE user_id = $1").arg(&u.id)).await?;
    if u.role == Role::Lawyer {
        let mut seen = std::collections::HashSet::new();
        for s in u.specializations() {
            if seen.insert(s.clone()) {
                tx.exec(&Sql::new("INSERT INTO lawyer_specializations (user_id, specialization) VALUES ($1, $2)").arg(&u.id).arg(s))
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
    tx.exec(&bind_all(
        Sql::new(format!(
            "INSERT INTO users ({COLUMNS}, verification_status, experience) VALUES \
             ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)"
        )),
        u,
    ))
    .await?;
    sync_specializations(&mut tx, u).await?;
    tx.commit().await
}

/// Writes every field of the account back (and refreshes `updatedAt`).
pub async fn save(db: &Db, u: &mut User) -> sqlx::Result<()> {
    u.updated_at = crate::time::now_iso();
    let mut tx = db.begin().await?;
    tx.exec(&bind_all(
        Sql::new(
            "UPDATE users SET name=$2, email=$3, password_hash=$4, role=$5, phone=$6, address=$7, profile_picture=$8, \
             is_verified=$9, is_active=$10, refresh_token_hash=$11, password_reset_hash=$12, password_reset_expires=$13, \
             profile_completion=$14, lawyer_details=$15, student_details=$16, connections=$17, message_requests=$18, \
             created_at=$19, updated_at=$20, verification_status=$21, experience=$22 WHERE id=$1",
        ),
        u,
    ))
    .await?;
    sync_specializations(&mut tx, u).await?;
    tx.commit().await
}

pub async fn get(db: &Db, id: &Id) -> sqlx::Result<Option<User>> {
    db.opt(&Sql::new(format!("SELECT {SELECT_COLUMNS} FROM users WHERE id = $1")).arg(id)).await?.as_ref().map(User::from_row).transpose()
}

pub async fn find_by_email(db: &Db, email: &str) -> sqlx::Result<Option<User>> {
    db.opt(&Sql::new(format!("SELECT {SELECT_COLUMNS} FROM users WHERE email = $1")).arg(email))
        .await?
        .as_ref()
        .map(User::from_row)
        .transpose()
}

pub async fn find_by_reset_hash(db: &Db, hash: &str) -> sqlx::Result<Option<User>> {
    db.opt(&Sql::new(format!("SELECT {SELECT_COLUMNS} FROM users WHERE password_reset_hash = $1")).arg(hash))
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
    let mut sql = Sql::new(format!("SELECT {SELECT_COLUMNS} FROM users WHERE id IN ("));
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
    let sql = Sql::new(format!("SELECT {SELECT_COLUMNS} FROM users ")).append(tail);
    db.all(&sql).await?.iter().map(User::from_row).collect()
}
