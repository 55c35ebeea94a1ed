//! `nyaya seed`: demo data for a fresh installation: an admin, verified lawyers across
//! specializations and Indian cities, lawyers awaiting verification, citizens, and a few
//! queries and disputes (some assigned, some resolved) so every dashboard has something to show.
//!
//! Idempotent: seed accounts are recognised by email and seed cases by (citizen, title), so a
//! second run creates nothing. Every seeded account shares one password, hashed once.
//!
//! Cases are written with SQL here rather than through `store::cases`: the seed only needs
//! plain rows, and keeping its inserts local leaves the case repository free to evolve.
//! This is the one documented exception to "SQL lives in `store/`".

pub mod bench;

use std::collections::HashMap;

use anyhow::Context;
use serde_json::{Value, json};

use crate::db::{Db, Sql};
use crate::ids::Id;
use crate::store::users::{self, Role, User};

/// The password of every seeded account unless `--password` says otherwise.
pub const DEFAULT_PASSWORD: &str = "Nyaya@2024";

/// Verified lawyers created by the seed.
pub const VERIFIED_LAWYERS: usize = 56;

const SPECIALIZATIONS: [&str; 8] = [
    "Criminal Law",
    "Family Law",
    "Property Law",
    "Corporate Law",
    "Civil Law",
    "Tax Law",
    "Labor Law",
    "Consumer Law",
];

/// (city, state, state code for bar registration numbers, pincode prefix)
const CITIES: [(&str, &str, &str, &str); 12] = [
    ("Mumbai", "Maharashtra", "MAH", "400"),
    ("Delhi", "Delhi", "DEL", "110"),
    ("Bengaluru", "Karnataka", "KAR", "560"),
    ("Chennai", "Tamil Nadu", "TN", "600"),
    ("Kolkata", "West Bengal", "WB", "700"),
    ("Hyderabad", "Telangana", "TS", "500"),
    ("Pune", "Maharashtra", "MAH", "411"),
    ("Ahmedabad", "Gujarat", "GUJ", "380"),
    ("Jaipur", "Rajasthan", "RAJ", "302"),
    ("Lucknow", "Uttar Pradesh", "UP", "226"),
    ("Chandigarh", "Punjab", "PUN", "160"),
    ("Kochi", "Kerala", "KER", "682"),
];

const FIRST_NAMES: [&str; 24] = [
    "Aarav",
    "Priya",
    "Rohan",
    "Ananya",
    "Vikram",
    "Meera",
    "Arjun",
    "Kavya",
    "Siddharth",
    "Neha",
    "Rahul",
    "Isha",
    "Karan",
    "Divya",
    "Aditya",
    "Pooja",
    "Nikhil",
    "Sneha",
    "Manish",
    "Lakshmi",
    "Farhan",
    "Zoya",
    "Harpreet",
    "Tenzin",
];

const SURNAMES: [&str; 18] = [
    "Sharma",
    "Iyer",
    "Reddy",
    "Banerjee",
    "Patel",
    "Singh",
    "Nair",
    "Menon",
    "Gupta",
    "Khan",
    "Desai",
    "Chatterjee",
    "Rao",
    "Joshi",
    "Kulkarni",
    "Mehta",
    "Pillai",
    "Verma",
];

const EDUCATION: [&str; 6] = [
    "LLB, University of Delhi",
    "LLM, National Law School of India University",
    "BA LLB (Hons), NALSAR University of Law",
    "LLB, Government Law College Mumbai",
    "LLM, Symbiosis Law School Pune",
    "BA LLB, West Bengal National University of Juridical Sciences",
];

/// One account the seed created.
#[derive(Debug, Clone)]
pub struct Login {
    pub role: Role,
    pub label: String,
    pub name: String,
    pub email: String,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct SeedReport {
    pub created: Vec<Login>,
    /// Seed accounts that were already there.
    pub existing_users: usize,
    pub cases_created: usize,
    pub password: String,
}

impl SeedReport {
    /// The logins created, as a text table (email and password) for the terminal.
    pub fn logins_table(&self) -> String {
        if self.created.is_empty() {
            return format!(
                "Nothing to create: {} seed accounts already exist (password {}).\n",
                self.existing_users, self.password
            );
        }
        let rows: Vec<[&str; 4]> = self
            .created
            .iter()
            .map(|l| [l.label.as_str(), l.name.as_str(), l.email.as_str(), self.password.as_str()])
            .collect();
        let header = ["ROLE", "NAME", "EMAIL", "PASSWORD"];
        let widths: Vec<usize> = (0..4)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
            .collect();
        let line = |cells: [&str; 4]| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let rule = format!("+{}+\n", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("+"));
        let mut out = String::new();
        out.push_str(&rule);
        out.push_str(&line(header));
        out.push_str(&rule);
        for r in rows {
            out.push_str(&line(r));
        }
        out.push_str(&rule);
        out.push_str(&format!(
            "{} accounts created, {} already present, {} cases created.\n",
            self.created.len(),
            self.existing_users,
            self.cases_created
        ));
        out
    }
}

/// The API's password rule (1.6), so seeded accounts could also have been registered.
fn check_password(password: &str) -> anyhow::Result<()> {
    let ok = password.chars().count() >= 6
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_digit());
    anyhow::ensure!(
        ok,
        "the seed password needs 6+ characters with a lowercase letter, an uppercase letter and a digit"
    );
    Ok(())
}

/// A timestamp `hours` before now.
fn hours_ago(hours: i64) -> String {
    crate::time::iso(crate::time::now() - chrono::Duration::hours(hours))
}

/// An account the seed wants, before it is written.
struct Planned {
    label: &'static str,
    user: User,
}

fn address(i: usize, street: &str) -> Value {
    let (city, state, _, pin) = CITIES[i % CITIES.len()];
    json!({"street": street, "city": city, "state": state, "pincode": format!("{pin}{:03}", (i * 37) % 1000)})
}

fn person_name(i: usize) -> String {
    format!("{} {}", FIRST_NAMES[i % FIRST_NAMES.len()], SURNAMES[(i * 5 + i / FIRST_NAMES.len()) % SURNAMES.len()])
}

fn base_user(name: String, email: String, role: Role, created_hours_ago: i64) -> User {
    let mut u = User::new(name, email, String::new(), role);
    u.created_at = crate::time::now() - chrono::Duration::hours(created_hours_ago);
    u.updated_at = u.created_at;
    u
}

/// The details of lawyer number `i` (0-based), verified or not.
fn lawyer(i: usize, email: String, status: &str, created_hours_ago: i64) -> User {
    let name = person_name(i + 3);
    let (city, state, code, _) = CITIES[i % CITIES.len()];
    let mut specs = vec![SPECIALIZATIONS[i % SPECIALIZATIONS.len()]];
    if i.is_multiple_of(3) {
        specs.push(SPECIALIZATIONS[(i + 3) % SPECIALIZATIONS.len()]);
    }
    let experience = (i * 7) % 30 + 1;
    let education = EDUCATION[i % EDUCATION.len()];
    let mut u = base_user(name.clone(), email, Role::Lawyer, created_hours_ago);
    u.phone = Some(format!("98{:08}", 10_000_000 + i));
    u.address = address(i, &format!("{} Law Chambers, Court Road", 10 + i));
    u.is_verified = status == "verified";
    u.profile_completion = json!({"basicInfo": true, "roleSpecificDetails": true, "documentsUploaded": false});
    let mut details = json!({
        "barRegistrationNumber": format!("{code}/{}/{}", 1000 + i, 2025 - experience),
        "specialization": specs,
        "experience": experience,
        "education": education,
        "verificationStatus": status,
        "verificationDocuments": [],
        "consultationFee": 500 + (i % 10) * 250,
        "bio": format!(
            "{name} practises {} in {city}, {state}, with {experience} years at the bar. Clear advice, plain language.",
            specs.join(" and ")
        ),
        "licenseNumber": format!("LIC-{code}-{:05}", 20_000 + i),
        "practiceAreas": specs,
        "courtAdmissions": [format!("{state} High Court"), format!("District Court, {city}")],
    });
    if status == "rejected" {
        details["verificationNotes"] =
            json!("Bar registration number could not be confirmed with the state bar council.");
    }
    u.lawyer_details = Some(details);
    u
}

fn plan_accounts() -> Vec<Planned> {
    let mut plan = Vec::new();
    let mut admin = base_user("Platform Admin".into(), "demo.admin@example.com".into(), Role::Admin, 24 * 200);
    admin.phone = Some("9000000001".into());
    plan.push(Planned { label: "admin", user: admin });
    for i in 0..VERIFIED_LAWYERS {
        let email = format!("demo.lawyer{:02}@example.com", i + 1);
        plan.push(Planned { label: "lawyer", user: lawyer(i, email, "verified", 24 * 150 - (i as i64) * 11) });
    }
    for (k, status) in ["pending", "pending", "pending", "pending", "rejected"].into_iter().enumerate() {
        let email = format!("demo.pending{:02}@example.com", k + 1);
        let label = if status == "pending" { "lawyer (pending)" } else { "lawyer (rejected)" };
        plan.push(Planned { label, user: lawyer(VERIFIED_LAWYERS + k, email, status, 48 - (k as i64) * 6) });
    }
    for i in 0..12 {
        let email = format!("demo.citizen{:02}@example.com", i + 1);
        let mut u = base_user(person_name(i * 2 + 1), email, Role::Citizen, 24 * 120 - (i as i64) * 37);
        u.phone = Some(format!("97{:08}", 20_000_000 + i));
        u.address = address(i + 5, &format!("Flat {}, Green Residency", 100 + i));
        plan.push(Planned { label: "citizen", user: u });
    }
    plan
}

/// A case the seed wants: (type, title, description, category, status, citizen#, lawyer#, days ago).
struct PlannedCase {
    case_type: &'static str,
    title: &'static str,
    description: &'static str,
    category: &'static str,
    status: &'static str,
    priority: &'static str,
    citizen: usize,
    lawyer: Option<usize>,
    days_ago: i64,
}

const CASES: &[PlannedCase] = &[
    PlannedCase {
        case_type: "query",
        title: "Landlord refuses to return security deposit",
        description: "My landlord has kept my deposit of two months' rent for three months after I vacated, citing vague damages.",
        category: "property",
        status: "pending",
        priority: "medium",
        citizen: 0,
        lawyer: None,
        days_ago: 2,
    },
    PlannedCase {
        case_type: "query",
        title: "Cheque bounce notice from a supplier",
        description: "A supplier sent me a legal notice under Section 138 for a cheque that bounced because of a bank error.",
        category: "criminal",
        status: "pending",
        priority: "high",
        citizen: 1,
        lawyer: None,
        days_ago: 5,
    },
    PlannedCase {
        case_type: "query",
        title: "Mutual consent divorce procedure",
        description: "My spouse and I want a mutual consent divorce and need to understand the process, waiting period and documents.",
        category: "family",
        status: "assigned",
        priority: "medium",
        citizen: 2,
        lawyer: Some(1),
        days_ago: 20,
    },
    PlannedCase {
        case_type: "query",
        title: "Unpaid salary after resignation",
        description: "My former employer has not paid my last two months of salary and the full and final settlement after I resigned.",
        category: "labor",
        status: "in-progress",
        priority: "high",
        citizen: 3,
        lawyer: Some(6),
        days_ago: 35,
    },
    PlannedCase {
        case_type: "query",
        title: "GST notice for a small business",
        description: "I received a GST demand notice for a mismatch in input tax credit and need help drafting a reply.",
        category: "tax",
        status: "resolved",
        priority: "medium",
        citizen: 4,
        lawyer: Some(5),
        days_ago: 60,
    },
    PlannedCase {
        case_type: "query",
        title: "Registering a private limited company",
        description: "I want to register a private limited company with two co-founders and need guidance on the incorporation steps.",
        category: "corporate",
        status: "resolved",
        priority: "low",
        citizen: 5,
        lawyer: Some(3),
        days_ago: 90,
    },
    PlannedCase {
        case_type: "dispute",
        title: "Defective refrigerator not replaced",
        description: "The retailer refuses to replace a refrigerator that stopped working within warranty; I want to approach the consumer forum.",
        category: "consumer",
        status: "pending",
        priority: "medium",
        citizen: 6,
        lawyer: None,
        days_ago: 3,
    },
    PlannedCase {
        case_type: "dispute",
        title: "Boundary wall dispute with neighbour",
        description: "My neighbour built a wall two feet into my plot; the survey records support my boundary.",
        category: "property",
        status: "assigned",
        priority: "high",
        citizen: 7,
        lawyer: Some(2),
        days_ago: 25,
    },
    PlannedCase {
        case_type: "dispute",
        title: "Breach of a software services contract",
        description: "A client stopped payments midway through a fixed-price software project, claiming delays they caused.",
        category: "contract",
        status: "mediation",
        priority: "high",
        citizen: 8,
        lawyer: Some(11),
        days_ago: 45,
    },
    PlannedCase {
        case_type: "dispute",
        title: "Tenant not vacating after notice",
        description: "My tenant has not vacated three months after the notice period ended and has stopped paying rent.",
        category: "landlord-tenant",
        status: "resolved",
        priority: "medium",
        citizen: 9,
        lawyer: Some(10),
        days_ago: 75,
    },
];

/// The law category of a case: a query's own, or for a dispute (whose `category` field in
/// the plan is its disputeType) the nearest category of docs/api.md 2.3.
fn law_category(c: &PlannedCase) -> &'static str {
    if c.case_type == "query" {
        return c.category;
    }
    match c.category {
        "property" | "landlord-tenant" => "property",
        "family" => "family",
        "employment" => "labor",
        "contract" | "business" => "corporate",
        _ => "civil",
    }
}

async fn case_exists(db: &Db, citizen: &Id, title: &str) -> anyhow::Result<bool> {
    let n = db
        .count(&Sql::new("SELECT COUNT(*) FROM cases WHERE citizen_id = $1 AND title = $2").arg(citizen).arg(title))
        .await?;
    Ok(n > 0)
}

fn timeline_item(action: &str, description: &str, by: Option<&Id>, at: &str) -> Value {
    json!({"_id": Id::new(), "action": action, "description": description, "performedBy": by, "timestamp": at})
}

async fn insert_case(db: &Db, c: &PlannedCase, citizen: &Id, lawyer: Option<&Id>) -> anyhow::Result<()> {
    let id = Id::new();
    let created = hours_ago(c.days_ago * 24);
    let noun = if c.case_type == "query" { "Query" } else { "Dispute" };
    let mut timeline = vec![timeline_item("created", &format!("{noun} created"), Some(citizen), &created)];
    let assigned_at = hours_ago(c.days_ago * 24 - 20);
    if lawyer.is_some() {
        timeline.push(timeline_item("assigned", &format!("Lawyer assigned to {}", c.case_type), lawyer, &assigned_at));
        if c.status != "assigned" {
            timeline.push(timeline_item(
                "status_change",
                &format!("Status changed to {}", c.status),
                None,
                &assigned_at,
            ));
        }
    }
    let resolved_at = (c.status == "resolved").then(|| hours_ago(c.days_ago * 24 / 3));
    let resolution = resolved_at.as_ref().map(|at| {
        let mut r = json!({"summary": "Resolved after advice and correspondence with the other party.", "resolvedBy": lawyer, "resolvedAt": at});
        if c.case_type == "dispute" {
            r["type"] = json!("settlement");
            r["terms"] = json!("Possession handed over with arrears paid in two instalments.");
            r["isSuccessful"] = json!(true);
        }
        r
    });
    let details = if c.case_type == "dispute" {
        json!({"opposingParty": {"name": "The other party", "contact": "9810000000", "address": "On record"}, "disputeValue": 150000, "hearingDates": []})
    } else {
        json!({})
    };
    let updated =
        resolved_at.clone().unwrap_or_else(|| if lawyer.is_some() { assigned_at.clone() } else { created.clone() });
    let mut tx = db.begin().await?;
    tx.exec(
        &Sql::new(
            "INSERT INTO cases (id, case_type, title, description, category, status, priority, citizen_id, \
             assigned_lawyer_id, details, notes, timeline, documents, resolution, resolved_at, created_at, updated_at, \
             dispute_type) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, '[]', $11, '[]', $12, $13, $14, $15, $16)",
        )
        .arg(&id)
        .arg(c.case_type)
        .arg(c.title)
        .arg(c.description)
        .arg(law_category(c))
        .arg(c.status)
        .arg(c.priority)
        .arg(citizen)
        .arg(lawyer)
        .arg(details.to_string())
        .arg(Value::Array(timeline).to_string())
        .arg(resolution.map(|r| r.to_string()))
        .arg(resolved_at)
        .arg(&created)
        .arg(&updated)
        .arg((c.case_type == "dispute").then_some(c.category)),
    )
    .await?;
    if let Some(lawyer) = lawyer {
        // The accepted offer through which the lawyer was assigned.
        tx.exec(
            &Sql::new(
                "INSERT INTO case_requests (id, case_id, direction, lawyer_id, requested_by, status, message, \
                 requested_at, responded_at) VALUES ($1, $2, 'lawyer', $3, $3, 'accepted', $4, $5, $6)",
            )
            .arg(Id::new())
            .arg(&id)
            .arg(lawyer)
            .arg(format!("I would like to help you with this {}", c.case_type))
            .arg(hours_ago(c.days_ago * 24 - 2))
            .arg(&assigned_at),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Creates whatever of the demo data is missing. `password` is set on new accounts only.
pub async fn run(db: &Db, password: &str) -> anyhow::Result<SeedReport> {
    check_password(password)?;
    let mut report = SeedReport { password: password.to_string(), ..SeedReport::default() };
    let mut hash: Option<String> = None;
    let mut ids: HashMap<String, Id> = HashMap::new();
    for Planned { label, mut user } in plan_accounts() {
        if let Some(existing) = users::find_by_email(db, &user.email).await? {
            report.existing_users += 1;
            ids.insert(user.email.clone(), existing.id);
            continue;
        }
        if hash.is_none() {
            hash = Some(crate::security::hash_password_async(password.to_string()).await?);
        }
        user.password_hash = hash.clone().unwrap_or_default();
        users::insert(db, &user).await.with_context(|| format!("creating {}", user.email))?;
        ids.insert(user.email.clone(), user.id.clone());
        report.created.push(Login { role: user.role, label: label.to_string(), name: user.name, email: user.email });
    }
    let id_of = |email: String| ids.get(&email).cloned().with_context(|| format!("seed account {email} missing"));
    for c in CASES {
        let citizen = id_of(format!("demo.citizen{:02}@example.com", c.citizen + 1))?;
        let lawyer = c.lawyer.map(|l| id_of(format!("demo.lawyer{:02}@example.com", l + 1))).transpose()?;
        if case_exists(db, &citizen, c.title).await? {
            continue;
        }
        insert_case(db, c, &citizen, lawyer.as_ref()).await.with_context(|| format!("creating case {:?}", c.title))?;
        report.cases_created += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_consistent() {
        let plan = plan_accounts();
        let emails: std::collections::HashSet<_> = plan.iter().map(|p| p.user.email.clone()).collect();
        assert_eq!(emails.len(), plan.len(), "seed emails are unique");
        let verified = plan.iter().filter(|p| p.user.role == Role::Lawyer && p.user.is_verified).count();
        assert!(verified >= 50);
        let specs: std::collections::HashSet<String> = plan.iter().flat_map(|p| p.user.specializations()).collect();
        assert_eq!(specs.len(), SPECIALIZATIONS.len());
        assert!(check_password(DEFAULT_PASSWORD).is_ok());
        assert!(check_password("weak").is_err());
        for c in CASES {
            assert!(c.citizen < 12 && c.lawyer.is_none_or(|l| l < VERIFIED_LAWYERS));
        }
    }
}
