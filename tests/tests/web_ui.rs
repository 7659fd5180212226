//! The web UI in a real Chromium against real `meshd` processes on
//! loopback: sign-in, search, a product's page, a fetch with live
//! progress, an access request granted on the owner's node, a vote from
//! the governance page that ratifies a policy, and the guards (no cookie,
//! wrong token, cross-site POSTs, hostile text, unknown products, paging).
//! Screenshots of the main pages land in `target/ui-screenshots/`.
#![allow(
    clippy::unwrap_used,
    reason = "end-to-end tests: a failed unwrap is a failed test"
)]

use mesh_tests::browser::{Browser, raw, session};
use mesh_tests::cli::{create_federation, mesh, stdout_json, wait_json, write};
use mesh_tests::daemon::{Daemon, init, run, start};
use mesh_tests::query::publish;
use serde_json::json;

/// A node of `domain` whose anti-entropy runs every second, as the
/// in-process test nodes' does (`loopback_config`), so that a gossip
/// message lost to a loaded machine is repaired within the test's wait;
/// `edit` changes the rest of its config text.
fn node(domain: &str, bootstrap: Option<&str>, edit: impl Fn(String) -> String) -> Daemon {
    let dir = init(domain, &[]);
    let config = dir.path().join("meshd.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = edit(text.replace("sync_interval_ms = 30000", "sync_interval_ms = 1000"));
    assert!(text.contains("sync_interval_ms = 1000"), "template changed");
    std::fs::write(&config, text).unwrap();
    run(dir, bootstrap, &[])
}

/// A node that serves at most 30 requests a second to a peer (bursts of
/// 10), so a fetch from it takes long enough to watch.
fn slow_owner(domain: &str) -> Daemon {
    node(domain, None, |text| {
        let text = text
            .replace("requests_per_sec = 2000", "requests_per_sec = 30")
            .replace("burst = 4000", "burst = 10");
        assert!(text.contains("requests_per_sec = 30"), "template changed");
        text
    })
}

/// About 4 MiB of orders as CSV.
fn orders_csv() -> String {
    let mut out = String::from("id,email,amount\n");
    let mut i = 0u64;
    while out.len() < 4 << 20 {
        let line = format!("{i},user{i}@shop.example,{}.{:02}\n", i % 977, i % 100);
        out.push_str(&line);
        i += 1;
    }
    out
}

/// The bytes the page's progress bar shows.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a byte count the page holds as a double"
)]
fn progress(b: &Browser) -> u64 {
    let v = b.execute("return document.querySelector('.fetch progress').value;");
    v.as_f64().unwrap() as u64
}

const HOSTILE_TITLE: &str =
    "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">";

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
fn search_product_fetch_and_access_in_the_browser() {
    let work = tempfile::tempdir().unwrap();
    let sales = slow_owner("sales");
    let finance = node("finance", Some(&sales.addr), |text| text);
    let orders = write(work.path(), "orders.csv", &orders_csv());
    let orders_yaml = write(
        work.path(),
        "orders.yaml",
        "title: Orders\ndescription: Every order the shop took.\nchunk_size: 65536\ntags: [sales]\n\
         schema: {fields: [{name: id, type: int64, nullable: false}, \
         {name: email, type: string, classification: pii}, {name: amount, type: decimal}]}\n",
    );
    let published = publish(&sales, &orders, "orders", &orders_yaml);
    let size = published["size"].as_u64().unwrap();
    let payroll = write(work.path(), "payroll.csv", "id,salary\n1,100\n");
    let payroll_yaml = write(
        work.path(),
        "payroll.yaml",
        "title: Payroll\naccess: owner-granted\nreshare: false\n",
    );
    publish(&sales, &payroll, "payroll", &payroll_yaml);
    let hostile = write(work.path(), "hostile.csv", "a\n1\n");
    let hostile_yaml = write(
        work.path(),
        "hostile.yaml",
        &format!(
            "title: '{HOSTILE_TITLE}'\ndescription: '<b>bold</b> <a href=\"javascript:alert(1)\">x</a>'\n"
        ),
    );
    publish(&sales, &hostile, "hostile", &hostile_yaml);
    wait_json(&finance, &["list", "--json"], |v| {
        v.as_array().is_some_and(|a| a.len() == 3)
    });

    let b = Browser::start();
    // No page without the cookie: the catalog sends the browser to sign in.
    b.open(&finance, "/");
    assert_eq!(b.path(), "/signin");
    // A wrong token gets the sign-in page with a clear message.
    b.fill("#token", "not-the-token");
    b.click("main form button[type=submit]");
    assert!(
        b.text("#signin-error")
            .contains("not this node's API token"),
        "{}",
        b.source()
    );
    assert_eq!(b.path(), "/signin");
    b.sign_in(&finance, &finance.token);
    b.find("#catalog");
    assert_eq!(b.path(), "/");
    b.screenshot("catalog");

    // finance publishes a file from the browser; sales's catalog gets it.
    let budget = write(work.path(), "budget.csv", "dept,amount\nit,5\nops,7\n");
    b.open(&finance, "/publish");
    b.fill("#publish-file", &budget);
    b.fill("#name", "budget");
    b.fill("#title", "Budget");
    b.fill("#schema-text", "dept string required\namount int64");
    b.click("#publish-button");
    assert_eq!(b.text("#product-title"), "Budget");
    assert!(b.text("#profile-summary").contains("2 rows"));
    wait_json(&sales, &["list", "--json"], |v| {
        v.as_array()
            .is_some_and(|a| a.iter().any(|p| p["name"] == "budget"))
    });

    // Search finds the product sales published.
    b.open(&finance, "/");
    b.fill("#q", "orders");
    b.click("#search-button");
    b.wait_text("#result-count", |t| t == "1 product found");
    let row = b.text("#catalog tbody");
    assert!(row.contains("Orders") && row.contains("sales"), "{row}");

    // The product page: schema, types and classification, owner, signature.
    b.click("#catalog a.product");
    assert_eq!(b.text("#product-title"), "Orders");
    assert_eq!(b.text("#owner-domain"), "sales");
    assert!(b.text("#signature").contains("signature valid"));
    let email = b.text("#schema tr[data-field=email]");
    assert!(email.contains("string") && email.contains("pii"), "{email}");
    b.find("#schema tr[data-field=email] .badge.c-pii");
    let id = b.text("#schema tr[data-field=id]");
    assert!(id.contains("int64") && id.contains("required"), "{id}");
    b.screenshot("product");

    // A fetch started from the page: its progress moves without a reload
    // and ends done, with every byte.
    b.click("#fetch-button");
    b.find(".fetch progress");
    b.execute("window.__same_page = true; return null;");
    let first = progress(&b);
    assert!(first < size, "the fetch was already done: {first}");
    b.find(".fetch[data-finished]");
    let finished = b.attr(".fetch", "data-finished").unwrap();
    assert_eq!(finished, "done", "{}", b.text(".fetch"));
    let last = progress(&b);
    assert_eq!(last, size);
    let updates: u64 = b.attr(".fetch", "data-updates").unwrap().parse().unwrap();
    assert!(updates >= 2, "progress polled {updates} times");
    let same = b.execute("return window.__same_page === true;");
    assert_eq!(same, json!(true), "the page reloaded");
    let jobs = finance.get("/v1/fetches").json().unwrap();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|j| j["state"] == "Done" && j["bytes_done"] == size),
        "{jobs}"
    );
    b.screenshot("product-fetched");

    // The preview reads the first rows; the providers list names sales.
    b.click("#preview-button");
    let preview = b.text("#preview-table");
    assert!(
        preview.contains("email") && preview.contains("user0@shop.example"),
        "{preview}"
    );
    b.find("#providers[data-loaded]");

    // A product derived by SQL from orders: its page shows the pii column
    // it inherited, its lineage page draws the edge, each box a link.
    let granted = write(work.path(), "granted.yaml", "access: owner-granted\n");
    let derived = stdout_json(&mesh(
        Some(&finance),
        &[
            "query",
            "SELECT email, amount FROM sales.orders WHERE amount > 900",
            "--publish",
            "big_orders",
            "--title",
            "Big orders",
            "--descriptor",
            &granted,
            "--json",
        ],
    ));
    let derived_domain = derived["published"]["product"]["domain"].as_str().unwrap();
    b.open(&finance, &format!("/products/{derived_domain}/big_orders"));
    b.find("#schema tr[data-field=email] .badge.c-pii");
    b.click("#lineage-link");
    b.find("svg.lineage");
    let boxes = b.execute("return document.querySelectorAll('svg.lineage g[data-node]').length;");
    assert_eq!(boxes, json!(2));
    assert!(b.text("#edges").contains("big_orders"));
    b.screenshot("lineage");
    b.click("svg.lineage g[data-node$='/orders'] a");
    b.wait_text("#product-title", |t| t == "Orders");

    // Hostile text from another domain is shown as text, never run.
    b.open(&finance, "/?q=hostile");
    b.click("#catalog a.product");
    assert_eq!(b.text("#product-title"), HOSTILE_TITLE);
    let pwned = b.execute("return window.__pwned === undefined;");
    assert_eq!(pwned, json!(true), "a title ran as script");
    b.find("p.description");
    assert!(
        b.try_find("p.description a").is_none(),
        "a description's HTML became a link"
    );

    // finance asks for the owner-granted payroll from its page ...
    b.open(&finance, "/?q=payroll");
    b.click("#catalog a.product");
    b.fill("#request-reason", "monthly cost report");
    b.click("#request-button");
    b.find("#outgoing-table");
    assert_eq!(b.path(), "/access");
    let outgoing = b.text("#outgoing-table");
    assert!(
        outgoing.contains("payroll") && outgoing.contains("requested"),
        "{outgoing}"
    );

    // ... the request appears on the owner's page and is granted there
    // (the same browser signs in to sales: each node has its own cookie).
    b.sign_in(&sales, &sales.token);
    let page = b.wait_page(&sales, "/access", |t| {
        t.contains("finance asks for payroll")
    });
    assert!(page.contains("monthly cost report"), "{page}");
    b.screenshot("access");
    b.click("article.request button.grant");
    b.wait_page(&sales, "/access", |t| t.contains("granted"));
    // finance's session is still its own, and sees the grant arrive.
    let seen = b.wait_page(&finance, "/access", |t| t.contains("granted"));
    assert!(seen.contains("payroll"), "{seen}");
    b.open(&finance, "/node");
    assert_eq!(b.text("#peer-count"), "1");
    b.screenshot("node");

    // On a phone's screen every page fits its width.
    b.resize(390, 844);
    for page in ["/", "/access", "/node", "/publish", "/governance"] {
        b.open(&finance, page);
        b.find("main");
        assert!(b.fits_width(), "{page} is wider than a phone");
    }
    b.open(&finance, "/?q=orders");
    b.click("#catalog a.product");
    b.find("#schema");
    assert!(b.fits_width(), "the product page is wider than a phone");
    b.screenshot("product-phone");
}

#[test]
fn a_member_votes_from_the_governance_page() {
    let work = tempfile::tempdir().unwrap();
    let dirs: Vec<tempfile::TempDir> = ["sales", "hr"].iter().map(|d| init(d, &[])).collect();
    let (genesis, _) = create_federation(work.path(), &dirs);
    let extra = ["--genesis", genesis.as_str()];
    let mut dirs = dirs.into_iter();
    let sales = run(dirs.next().unwrap(), None, &extra);
    let hr = run(dirs.next().unwrap(), Some(&sales.addr), &extra);

    // sales proposes a policy and approves it through the API.
    let proposed = sales.post(
        "/v1/proposals",
        &json!({"change": {"add_policy": "require-owner"}, "reason": "owners matter"}),
    );
    assert_eq!(
        proposed.status,
        200,
        "{}",
        String::from_utf8_lossy(&proposed.body)
    );
    let id = proposed.json().unwrap()["id"].as_str().unwrap().to_owned();
    let voted = sales.post(
        &format!("/v1/proposals/{id}/votes"),
        &json!({"approve": true}),
    );
    assert_eq!(voted.status, 200);

    // hr's member approves from the governance page.
    let b = Browser::start();
    b.sign_in(&hr, &hr.token);
    let page = b.wait_page(&hr, "/governance", |t| {
        t.contains("owners matter") && t.contains("1 approve")
    });
    assert!(page.contains("you are a member"), "{page}");
    b.screenshot("governance");
    b.fill(&format!("#approve-reason-{id}"), "agreed");
    b.click(&format!("#proposal-{id} button.approve"));

    // The members decide; the certificate shows on the page: version 1,
    // the policy in force, the decision in the chain.
    let page = b.wait_page(&hr, "/governance", |t| {
        t.contains("Decisions") && !t.contains("No decisions yet")
    });
    assert_eq!(b.text("#fed-version"), "1", "{page}");
    assert!(b.text("#policies").contains("require-owner"));
    assert!(b.text("#decisions").contains("require-owner"));
    b.screenshot("governance-decided");

    // A cross-site form (a page of another origin) posting to hr is refused
    // and changes nothing.
    let form = format!(
        "data:text/html,<form id=f method=post action='http://{}/governance/proposals'>\
         <input name=kind value=add_policy><input name=value value=require-tags>\
         <input name=reason value=evil></form><script>document.getElementById('f').submit()</script>",
        hr.api
    );
    b.goto(&form);
    b.wait_text("body", |t| t.contains("Request refused"));
    let open = hr.get("/v1/proposals").json().unwrap();
    assert_eq!(open, json!([]), "a cross-site POST proposed something");
}

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end story, step by step")]
fn guards_escaping_and_paging_over_http() {
    let sales = start("sales", None);
    for i in 0..120 {
        sales.publish_csv(&format!("p{i:03}"), format!("id\n{i}\n").as_bytes());
    }
    let draft = json!({"name": "zz-hostile", "title": HOSTILE_TITLE, "format": "Csv",
        "description": "</td></tr></table><script>alert(1)</script>"});
    let answer = sales.post(
        "/v1/publish",
        &json!({"upload_id": sales.upload(b"a\n1\n"), "draft": draft}),
    );
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let receipt = answer.json().unwrap();
    let hostile_id = format!(
        "{}/{}",
        receipt["product"]["domain"].as_str().unwrap(),
        receipt["product"]["name"].as_str().unwrap()
    );
    let api = sales.api;

    // Without a session: pages send to sign-in, scripts' JSON says 401,
    // actions are refused; the bearer token is not a session.
    let root = raw(api, "GET", "/", &[], "");
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/signin?next=%2F"));
    assert_eq!(raw(api, "GET", "/governance", &[], "").status, 303);
    let bearer = format!("Bearer {}", sales.token);
    assert_eq!(
        raw(api, "GET", "/node", &[("Authorization", &bearer)], "").status,
        303
    );
    assert_eq!(raw(api, "GET", "/ui/fetches/1", &[], "").status, 401);
    assert_eq!(raw(api, "POST", "/signout", &[], "").status, 403);
    // The JSON API is unchanged beside the UI.
    assert_eq!(sales.get("/v1/status").status, 200);
    assert_eq!(raw(api, "GET", "/v1/status", &[], "").status, 401);

    // A wrong token: the sign-in page with a message, no cookie.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let wrong = raw(api, "POST", "/signin", &form, "token=nope");
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains("not this node&#39;s API token")
            || wrong.body.contains("not this node's API token"),
        "{}",
        wrong.body
    );
    assert!(wrong.header("set-cookie").is_none());

    let (cookie, csrf) = session(&sales);
    let c = [("Cookie", cookie.as_str())];

    // 121 products: pages of 50, never the whole catalog.
    let first = raw(api, "GET", "/", &c, "");
    assert_eq!(first.status, 200);
    assert_eq!(first.body.matches("<tr data-product=").count(), 50);
    assert!(
        first.body.contains("121 products found, page 1 of 3"),
        "{}",
        first.body
    );
    let csp = first.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let last = raw(api, "GET", "/?page=3", &c, "");
    assert_eq!(last.body.matches("<tr data-product=").count(), 21);

    // Odd characters in a search and hostile text in a descriptor come
    // back escaped.
    let odd = raw(
        api,
        "GET",
        "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%27",
        &c,
        "",
    );
    assert_eq!(odd.status, 200);
    assert!(!odd.body.contains("<script>alert"), "{}", odd.body);
    assert!(odd.body.contains("&lt;script&gt;alert(1)"), "{}", odd.body);
    let page = raw(api, "GET", &format!("/products/{hostile_id}"), &c, "");
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("<script>window") && !page.body.contains("<script>alert"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"),
        "{}",
        page.body
    );

    // Unknown and malformed products: a 404 page.
    let unknown = raw(
        api,
        "GET",
        &format!("/products/{}/nope", "ab".repeat(16)),
        &c,
        "",
    );
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("Not found"), "{}", unknown.body);
    assert_eq!(
        raw(api, "GET", "/products/xyz/Bad%20Name", &c, "").status,
        404
    );
    assert_eq!(raw(api, "GET", "/no/such/page", &c, "").status, 404);

    // Forged POSTs: no anti-CSRF token, another origin, a cross-site fetch.
    let own = format!("/products/{hostile_id}/deprecate");
    let plain = [c[0], form[0]];
    let no_token = raw(api, "POST", &own, &plain, "reason=forged");
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let body = format!("_csrf={csrf}&reason=forged");
    let evil = [c[0], form[0], ("Origin", "http://evil.example")];
    assert_eq!(raw(api, "POST", &own, &evil, &body).status, 403);
    let cross = [c[0], form[0], ("Sec-Fetch-Site", "cross-site")];
    assert_eq!(raw(api, "POST", &own, &cross, &body).status, 403);
    // A form over the 64 KiB an action takes is refused before it is read.
    let huge = format!("_csrf={csrf}&reason={}", "x".repeat(70_000));
    let same = format!("http://{api}");
    let own_origin = [c[0], form[0], ("Origin", same.as_str())];
    assert_eq!(raw(api, "POST", &own, &own_origin, &huge).status, 413);
    let item = sales
        .get(&format!("/v1/products/{hostile_id}"))
        .json()
        .unwrap();
    assert!(
        item.to_string().contains("\"deprecation\":null"),
        "a forged POST deprecated it: {item}"
    );
    // The same action from the page's own form works.
    let origin = format!("http://{api}");
    let good = [c[0], form[0], ("Origin", origin.as_str())];
    let ok = raw(
        api,
        "POST",
        &own,
        &good,
        &format!("_csrf={csrf}&reason=retired"),
    );
    assert_eq!(ok.status, 303, "{}", ok.body);
    let item = sales
        .get(&format!("/v1/products/{hostile_id}"))
        .json()
        .unwrap();
    assert!(item.to_string().contains("retired"), "{item}");

    // Sign-out ends the session.
    let out = raw(api, "POST", "/signout", &good, &format!("_csrf={csrf}"));
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(raw(api, "GET", "/", &c, "").status, 303);
}
