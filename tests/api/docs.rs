//! The documentation works from a fresh clone: every relative link and image
//! of README.md and docs/*.md names a file in the repository, and every
//! `#anchor` a heading of the page it points to (as GitHub makes anchors).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// The headings' anchors and the link targets of one Markdown page.
struct Page {
    anchors: Vec<String>,
    links: Vec<String>,
}

fn read_page(file: &Path) -> Page {
    let text = std::fs::read_to_string(file).unwrap();
    let mut anchors = Vec::new();
    let mut links = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(&text) {
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string());
            }
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(words) | Event::Code(words) => {
                if let Some(heading) = heading.as_mut() {
                    heading.push_str(&words);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let slug = github_anchor(&heading.take().unwrap_or_default());
                // GitHub numbers repeated headings: name, name-1, name-2…
                let count = seen.entry(slug.clone()).or_default();
                anchors.push(if *count == 0 {
                    slug.clone()
                } else {
                    format!("{slug}-{count}")
                });
                *count += 1;
            }
            Event::Html(html) | Event::InlineHtml(html) => links.extend(html_links(&html)),
            _ => {}
        }
    }
    Page { anchors, links }
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped,
/// spaces turned into hyphens.
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// `src="…"` and `href="…"` in raw HTML (the README's pictures).
fn html_links(html: &str) -> Vec<String> {
    let mut links = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            if let Some(end) = rest.find('"') {
                links.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    links
}

fn documentation_pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

#[test]
fn every_relative_link_of_the_documentation_resolves_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    let pages = documentation_pages(&root);
    assert!(
        pages.iter().any(|p| p.ends_with("docs/api.md")),
        "the API reference"
    );
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        for link in read_page(page).links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                page.clone()
            } else {
                match page.parent().unwrap().join(path).canonicalize() {
                    Ok(target) if target.starts_with(&root) && target.is_file() => target,
                    _ => {
                        broken.push(format!("{}: {link}: no such file", page.display()));
                        continue;
                    }
                }
            };
            if !anchor.is_empty() {
                let is_markdown = target.extension().is_some_and(|e| e == "md");
                if !is_markdown || !read_page(&target).anchors.iter().any(|a| a == anchor) {
                    broken.push(format!("{}: {link}: no such heading", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 10, "links were found ({checked})");
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(github_anchor("Beyond the contract"), "beyond-the-contract");
    assert_eq!(
        github_anchor("Break-glass: the only admin lost their device"),
        "break-glass-the-only-admin-lost-their-device"
    );
    assert_eq!(
        github_anchor("Several instances: PostgreSQL, export and import"),
        "several-instances-postgresql-export-and-import"
    );
}

#[test]
fn links_in_markdown_and_html_and_headings_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "# Title\n\nSee [x](other.md#part), [y](#title), <img src=\"a.png\">.\n",
    )
    .unwrap();
    let read = read_page(&page);
    assert_eq!(read.anchors, ["title"]);
    assert_eq!(read.links, ["other.md#part", "#title", "a.png"]);
}
