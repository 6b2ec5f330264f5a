//! Files staff send with an answer (or keep on an internal note): which kinds are taken, how
//! large, and as what each chat provider receives them. A file is taken by its name's extension
//! only when its first bytes say the same — a program renamed `.pdf` is refused — and every
//! stored file is served back as a download, never shown in the page, so a file that slipped
//! through cannot run in anyone's browser.

use serde::{Deserialize, Serialize};

use crate::error::{FieldError, RuleError};

/// Largest file an agent attaches. Below every provider's limit for documents (WhatsApp 100 MB,
/// Messenger 25 MB) and what university mail servers take.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Files on one answer.
pub const MAX_FILES: usize = 5;
/// All the files of one answer together (a message larger than ~25 MB once encoded is refused
/// by many mail servers).
pub const MAX_TOTAL_BYTES: usize = 15 * 1024 * 1024;
/// WhatsApp takes images up to 5 MB; a larger one travels as a document.
const WHATSAPP_MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// How a chat provider is told to show a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Document,
    Audio,
    Video,
}

impl MediaKind {
    /// The kind WhatsApp is told: an image over its image limit is sent as a document.
    pub fn for_whatsapp(self, size: usize) -> MediaKind {
        match self {
            MediaKind::Image if size > WHATSAPP_MAX_IMAGE_BYTES => MediaKind::Document,
            kind => kind,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Document => "document",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }
}

/// What a file's first bytes must show for its extension.
enum Content {
    /// One of these types, as the file's signature says.
    Signature(&'static [&'static str]),
    /// Text in UTF-8 without control characters other than tabs and line ends.
    Text,
}

struct FileType {
    extensions: &'static [&'static str],
    content_type: &'static str,
    kind: MediaKind,
    content: Content,
}

const OOXML_OR_ZIP: &[&str] = &["application/zip"];
const OLE: &[&str] = &[
    "application/x-ole-storage",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
];

/// The kinds of file the CAP sends: documents (PDF, office), pictures, text, audio and video
/// that the chat providers play. Anything else (programs, scripts, archives, HTML, SVG) is
/// refused.
const TYPES: &[FileType] = &[
    FileType {
        extensions: &["pdf"],
        content_type: "application/pdf",
        kind: MediaKind::Document,
        content: Content::Signature(&["application/pdf"]),
    },
    FileType {
        extensions: &["jpg", "jpeg"],
        content_type: "image/jpeg",
        kind: MediaKind::Image,
        content: Content::Signature(&["image/jpeg"]),
    },
    FileType {
        extensions: &["png"],
        content_type: "image/png",
        kind: MediaKind::Image,
        content: Content::Signature(&["image/png"]),
    },
    FileType {
        extensions: &["docx"],
        content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        kind: MediaKind::Document,
        content: Content::Signature(&[
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            OOXML_OR_ZIP[0],
        ]),
    },
    FileType {
        extensions: &["xlsx"],
        content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        kind: MediaKind::Document,
        content: Content::Signature(&[
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            OOXML_OR_ZIP[0],
        ]),
    },
    FileType {
        extensions: &["pptx"],
        content_type: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        kind: MediaKind::Document,
        content: Content::Signature(&[
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            OOXML_OR_ZIP[0],
        ]),
    },
    FileType {
        extensions: &["odt"],
        content_type: "application/vnd.oasis.opendocument.text",
        kind: MediaKind::Document,
        content: Content::Signature(&["application/vnd.oasis.opendocument.text", OOXML_OR_ZIP[0]]),
    },
    FileType {
        extensions: &["ods"],
        content_type: "application/vnd.oasis.opendocument.spreadsheet",
        kind: MediaKind::Document,
        content: Content::Signature(&[
            "application/vnd.oasis.opendocument.spreadsheet",
            OOXML_OR_ZIP[0],
        ]),
    },
    FileType {
        extensions: &["doc"],
        content_type: "application/msword",
        kind: MediaKind::Document,
        content: Content::Signature(OLE),
    },
    FileType {
        extensions: &["xls"],
        content_type: "application/vnd.ms-excel",
        kind: MediaKind::Document,
        content: Content::Signature(OLE),
    },
    FileType {
        extensions: &["txt"],
        content_type: "text/plain",
        kind: MediaKind::Document,
        content: Content::Text,
    },
    FileType {
        extensions: &["csv"],
        content_type: "text/csv",
        kind: MediaKind::Document,
        content: Content::Text,
    },
    FileType {
        extensions: &["mp3"],
        content_type: "audio/mpeg",
        kind: MediaKind::Audio,
        content: Content::Signature(&["audio/mpeg"]),
    },
    FileType {
        extensions: &["ogg", "opus"],
        content_type: "audio/ogg",
        kind: MediaKind::Audio,
        content: Content::Signature(&["audio/ogg", "audio/opus"]),
    },
    FileType {
        extensions: &["mp4"],
        content_type: "video/mp4",
        kind: MediaKind::Video,
        content: Content::Signature(&["video/mp4"]),
    },
];

/// A file ready to store and send: its name made safe, its type from the list above (never
/// the one the browser or the client declared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFile {
    pub filename: String,
    pub content_type: &'static str,
    pub kind: MediaKind,
    pub size: usize,
}

/// A file staff attached, once stored: what a channel needs to send it (its bytes are read
/// by id when it leaves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingFile {
    pub attachment_id: i64,
    pub filename: String,
    pub content_type: String,
    pub kind: MediaKind,
    pub size: usize,
}

/// The extensions taken, for the form's `accept` and the error message.
pub fn accepted_extensions() -> impl Iterator<Item = &'static str> {
    TYPES.iter().flat_map(|t| t.extensions.iter().copied())
}

/// Checks the files of one answer or note: how many, how large, of which kind. `files` are the
/// names and bytes as received. The first problem of each file is reported under
/// `files[i]`.
pub fn check_files(files: &[(&str, &[u8])]) -> Result<Vec<CheckedFile>, RuleError> {
    let mut errors = Vec::new();
    if files.len() > MAX_FILES {
        errors.push(FieldError::new("files", "too_many_files"));
    }
    if files.iter().map(|(_, b)| b.len()).sum::<usize>() > MAX_TOTAL_BYTES {
        errors.push(FieldError::new("files", "files_too_large"));
    }
    let mut checked = Vec::with_capacity(files.len());
    for (i, (name, bytes)) in files.iter().enumerate() {
        match check_file(name, bytes) {
            Ok(f) => checked.push(f),
            Err(code) => errors.push(FieldError::new(format!("files[{i}]"), code)),
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(RuleError::Invalid(errors))
    }
}

fn check_file(name: &str, bytes: &[u8]) -> Result<CheckedFile, &'static str> {
    let filename = safe_filename(name);
    if bytes.is_empty() {
        return Err("file_empty");
    }
    if bytes.len() > MAX_FILE_BYTES {
        return Err("file_too_large");
    }
    let extension = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let Some(file_type) = TYPES
        .iter()
        .find(|t| t.extensions.contains(&extension.as_str()))
    else {
        return Err("file_type_not_allowed");
    };
    let matches = match file_type.content {
        Content::Signature(types) => {
            infer::get(bytes).is_some_and(|found| types.contains(&found.mime_type()))
        }
        Content::Text => is_plain_text(bytes),
    };
    if !matches {
        return Err("file_content_mismatch");
    }
    Ok(CheckedFile {
        filename,
        content_type: file_type.content_type,
        kind: file_type.kind,
        size: bytes.len(),
    })
}

fn is_plain_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| {
        s.chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
    })
}

/// A name safe in a header, a path and a page: no directories, no control characters, at most
/// 120 characters (the extension kept), never empty or hidden.
pub fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, '"' | ':' | '*' | '?' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    let cleaned = if cleaned.chars().count() > 120 {
        let (stem, ext) = cleaned.rsplit_once('.').unwrap_or((&cleaned, ""));
        let stem: String = stem.chars().take(110).collect();
        if ext.is_empty() || ext.chars().count() > 8 {
            stem
        } else {
            format!("{stem}.{ext}")
        }
    } else {
        cleaned
    };
    if cleaned.is_empty() {
        "archivo".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PDF: &[u8] = b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n";
    const PNG: &[u8] = &[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D,
    ];
    const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00";

    fn codes(e: RuleError) -> Vec<(String, String)> {
        e.fields()
            .iter()
            .map(|f| (f.field.clone(), f.code.clone()))
            .collect()
    }

    #[test]
    fn a_pdf_and_a_picture_are_taken_with_the_type_their_content_shows() {
        let files = check_files(&[("Constancia.PDF", PDF), ("captura.png", PNG)]).unwrap();
        assert_eq!(files[0].content_type, "application/pdf");
        assert_eq!(files[0].kind, MediaKind::Document);
        assert_eq!(files[1].content_type, "image/png");
        assert_eq!(files[1].kind, MediaKind::Image);
        assert_eq!(files[1].size, PNG.len());
    }

    #[test]
    fn a_program_renamed_to_pdf_is_refused() {
        let e = check_files(&[("constancia.pdf", EXE)]).unwrap_err();
        assert_eq!(
            codes(e),
            [("files[0]".into(), "file_content_mismatch".into())]
        );
    }

    #[test]
    fn programs_scripts_and_web_pages_are_refused_by_their_extension() {
        for name in [
            "setup.exe",
            "x.html",
            "logo.svg",
            "a.js",
            "datos.zip",
            "sin-extension",
        ] {
            let e = check_files(&[(name, b"hello")]).unwrap_err();
            assert_eq!(
                codes(e),
                [("files[0]".into(), "file_type_not_allowed".into())],
                "{name}"
            );
        }
    }

    #[test]
    fn text_files_must_be_text() {
        assert!(check_files(&[("lista.csv", "nombre,código\nAna,123\n".as_bytes())]).is_ok());
        let e = check_files(&[("lista.txt", b"MZ\x00\x01binary")]).unwrap_err();
        assert_eq!(
            codes(e),
            [("files[0]".into(), "file_content_mismatch".into())]
        );
    }

    #[test]
    fn empty_files_too_large_files_and_too_many_files_are_refused() {
        let e = check_files(&[("a.pdf", b"")]).unwrap_err();
        assert_eq!(codes(e), [("files[0]".into(), "file_empty".into())]);
        let mut big = PDF.to_vec();
        big.resize(MAX_FILE_BYTES + 1, b' ');
        let e = check_files(&[("a.pdf", &big)]).unwrap_err();
        assert!(codes(e).contains(&("files[0]".into(), "file_too_large".into())));
        let six: Vec<(&str, &[u8])> = (0..6).map(|_| ("a.pdf", PDF)).collect();
        let e = check_files(&six).unwrap_err();
        assert_eq!(codes(e), [("files".into(), "too_many_files".into())]);
    }

    #[test]
    fn all_files_together_have_a_limit() {
        let mut nine = PDF.to_vec();
        nine.resize(9 * 1024 * 1024, b' ');
        let e = check_files(&[("a.pdf", &nine), ("b.pdf", &nine)]).unwrap_err();
        assert_eq!(codes(e), [("files".into(), "files_too_large".into())]);
    }

    #[test]
    fn names_lose_their_directories_and_unsafe_characters() {
        assert_eq!(safe_filename("../../etc/passwd.txt"), "passwd.txt");
        assert_eq!(safe_filename("C:\\Users\\ana\\acta.pdf"), "acta.pdf");
        assert_eq!(safe_filename("a\"b\r\nc.pdf"), "a_bc.pdf");
        assert_eq!(safe_filename(".htaccess"), "htaccess");
        assert_eq!(safe_filename(""), "archivo");
        let long = format!("{}.pdf", "x".repeat(300));
        let safe = safe_filename(&long);
        assert!(safe.ends_with(".pdf") && safe.chars().count() <= 120);
    }

    #[test]
    fn whatsapp_gets_a_large_picture_as_a_document() {
        assert_eq!(MediaKind::Image.for_whatsapp(1024), MediaKind::Image);
        assert_eq!(
            MediaKind::Image.for_whatsapp(6 * 1024 * 1024),
            MediaKind::Document
        );
        assert_eq!(
            MediaKind::Audio.for_whatsapp(6 * 1024 * 1024),
            MediaKind::Audio
        );
    }
}
