// Every limit of the API in one place (SPEC §3, §6), so schemas, services and docs agree.
// "Bytes" are UTF-8 bytes. "Chars" are UTF-16 code units (JavaScript string length), which is what
// the schema length checks count; for ASCII and most scripts the two are the same.

/** `task_description`. */
export const MAX_TASK_DESCRIPTION_BYTES = 10_000;
/** Steps in one episode, and steps in one append request. */
export const MAX_STEPS_PER_EPISODE = 1_000;
/**
 * The highest step number. Numbers may leave gaps, so this is far above the step limit — and far below
 * 2^53, so that "the next free number" can never round onto a taken one.
 */
export const MAX_STEP_NUMBER = 1_000_000;
/** A step's `action`, a success `output` and an error `message`. */
export const MAX_STEP_TEXT_BYTES = 10_000;
/** A step's `parameters`, measured as serialized JSON. */
export const MAX_STEP_PARAMETERS_BYTES = 64 * 1024;
/** One outcome artifact, and an outcome's `error_details`. */
export const MAX_ARTIFACT_BYTES = 1024 * 1024;
/** A whole episode (with its steps), measured as serialized JSON. */
export const MAX_EPISODE_BYTES = 10 * 1024 * 1024;
/** Short prose: verdicts, reasons, reflection and salient-feature entries, notes. */
export const MAX_TEXT_BYTES = 10_000;
/** Items in the lists inside outcomes, reflections, salient features, and in id lists. */
export const MAX_LIST_ITEMS = 1_000;
/** Names and identifiers: agent_id, session_id, domain, language, framework, tool, place, model, context tags. */
export const MAX_NAME_CHARS = 200;

/** Normalised episode tags per episode. */
export const MAX_TAGS = 64;
export const MIN_TAG_CHARS = 2;
export const MAX_TAG_CHARS = 100;
/** Free-form `context.tags` (not normalised). */
export const MAX_CONTEXT_TAGS = 64;

export const MAX_METADATA_KEYS = 100;
export const MAX_METADATA_KEY_CHARS = 64;
export const MAX_METADATA_VALUE_BYTES = 10_000;

export const MAX_EMBEDDING_DIMENSION = 4096;
/** Episodes in one `POST /v1/episodes/batch`. */
export const MAX_BATCH_EPISODES = 500;

export const DEFAULT_LIST_LIMIT = 50;
/**
 * Bytes of records one list page may carry: a page that would be larger ends early, with a cursor. Well
 * below a remote sqld's default response limit (10 MB), so that one page is always one answer; a page of a
 * thousand typical episodes is ≈ 1–2 MB.
 */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024;
/** Steps embedded in one page of `?include=steps`: the episodes past it wait for the next page. */
export const MAX_EMBEDDED_STEPS = 5_000;
export const MAX_LIST_LIMIT = 1_000;
/** Values of one repeatable query filter (`?tag=a&tag=b`). */
export const MAX_FILTER_VALUES = 64;
/** The full-text query `q`. */
export const MAX_QUERY_TEXT_CHARS = 500;
/** An opaque pagination cursor (generous; the pagination helper decides what is valid). */
export const MAX_CURSOR_CHARS = 1_024;
/** Nesting depth of a JSON request body (SPEC §6); enforced where the body is parsed. */
export const MAX_JSON_DEPTH = 32;
/** Vectors in one `POST /v1/embeddings/batch` (SPEC §3.4). */
export const MAX_BATCH_EMBEDDINGS = 1_000;
/** Results of one similarity search (SPEC §3.4: k ≤ 100). */
export const MAX_SIMILAR_K = 100;
/** A whole pattern or heuristic, measured as serialized JSON. */
export const MAX_PATTERN_BYTES = 256 * 1024;
/** An application's reward_delta, in magnitude: the running mean of such values cannot overflow a double. */
export const MAX_ABS_REWARD_DELTA = 1e12;
