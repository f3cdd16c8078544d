export const id = 694;
export const ids = [694];
export const modules = {

/***/ 84694:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  createOctokit: () => (/* binding */ createOctokit),
  parseRepo: () => (/* binding */ parseRepo),
  runUrl: () => (/* binding */ runUrl)
});

// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 16 modules
var core = __webpack_require__(88179);
// EXTERNAL MODULE: ./node_modules/@actions/github/lib/github.js + 21 modules
var github = __webpack_require__(11758);
// EXTERNAL MODULE: ./node_modules/@octokit/plugin-retry/dist-bundle/index.js
var dist_bundle = __webpack_require__(49735);
// EXTERNAL MODULE: ./node_modules/@octokit/plugin-throttling/dist-bundle/index.js
var plugin_throttling_dist_bundle = __webpack_require__(86856);
// EXTERNAL MODULE: ./actions/shared/errors.ts
var errors = __webpack_require__(79223);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(77598);
// EXTERNAL MODULE: ./actions/shared/retry.ts
var retry = __webpack_require__(84280);
;// CONCATENATED MODULE: ./actions/shared/lost-writes.ts
/**
 * Creates whose answer is lost. GitHub can commit a write and still answer 5xx (its front end gave
 * up on a backend that went on to finish), or the connection can close before the answer. Sent
 * again, as @octokit/plugin-retry sends every method, such a create makes a second issue, comment
 * or review. So each create below carries a hidden write id in its body, is never retried by the
 * retry plugin, and after a lost answer (5xx or no answer) the client waits, looks for an item
 * with that id where GitHub lists it at once (issues sorted by creation, without a label filter
 * that can lag; the thread's comments; the pull request's reviews; the commit's comments), answers
 * with that item if GitHub made it, and sends the create again only if it did not.
 * Rate limits are not lost answers: GitHub refused before writing, and the throttling plugin
 * waits and retries those as for any request.
 */



const carries = (writeId) => (item) => (item.body ?? '').includes(writeId);
const where = (p) => ({
    owner: String(p.owner),
    repo: String(p.repo),
});
/** Every page of one list of the item's parent, searched for the write id. */
async function findIn(octokit, list, params, writeId) {
    // paginate types each list's items from the method, and `params` is checked against that list.
    const all = await octokit.paginate(list, { ...params, per_page: 100 });
    return all.find(carries(writeId));
}
const CREATES = {
    'POST /repos/{owner}/{repo}/issues': {
        what: 'issue',
        // An issue made during the request is among the newest few: one page is enough.
        find: async (octokit, p, writeId) => (await octokit.rest.issues.listForRepo({
            ...where(p),
            state: 'all',
            sort: 'created',
            direction: 'desc',
            per_page: 100,
        })).data.find(carries(writeId)),
    },
    'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': {
        what: 'comment',
        find: (octokit, p, writeId) => findIn(octokit, octokit.rest.issues.listComments, { ...where(p), issue_number: Number(p.issue_number) }, writeId),
    },
    'POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews': {
        what: 'review',
        find: (octokit, p, writeId) => findIn(octokit, octokit.rest.pulls.listReviews, { ...where(p), pull_number: Number(p.pull_number) }, writeId),
    },
    'POST /repos/{owner}/{repo}/commits/{commit_sha}/comments': {
        what: 'commit comment',
        find: (octokit, p, writeId) => findIn(octokit, octokit.rest.repos.listCommentsForCommit, { ...where(p), commit_sha: String(p.commit_sha) }, writeId),
    },
};
/** No answer (a network error, which octokit reports as 500) or a server error. */
const lost = (err) => {
    const status = err.status;
    return typeof status !== 'number' || status >= 500;
};
const article = (what) => `${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what}`;
/** The hidden write id, on its own line at the end (every marker the actions read is at the start). */
const writeIdMarker = (id) => `<!-- mlops-actions:write ${id} -->`;
/**
 * Makes the creates above safe to retry on `octokit`: up to `retries` more attempts, each after
 * a wait of 1, 4, 9… s (the retry plugin's schedule) and a look for the item the last one made.
 */
function guardCreates(octokit, retries, wait = retry/* sleep */.y) {
    octokit.hook.wrap('request', async (request, options) => {
        const p = options;
        const create = CREATES[`${p.method} ${p.url}`];
        if (!create)
            return request(options);
        const writeId = (0,external_node_crypto_.randomUUID)();
        const text = typeof p.body === 'string' && p.body !== '' ? `${p.body}\n\n` : '';
        // In place: every hook of the chain is bound to this one options object (before-after-hook),
        // so an altered copy would not reach the request. `request` is a defaults object shared by
        // every call, so it is replaced, not changed.
        p.body = `${text}${writeIdMarker(writeId)}`;
        p.request = { ...p.request, retries: 0 };
        // Octokit reports a dropped connection as status 500 with no response: say which it was.
        const answerOf = (failure) => {
            const e = failure;
            return e.response ? `answered ${e.status}` : 'gave no answer';
        };
        // One attempt is a send and, when its answer is lost, a wait and a look for what it made: the
        // wait gives a backend that outlived its front end time to commit. Nothing found, the create
        // goes again at once. Errors that are no lost answer, and failed looks, are not retried.
        const outcome = await (0,retry/* retry */.L)(async (attempt) => {
            try {
                return { answer: await request(options) };
            }
            catch (err) {
                if (!lost(err))
                    throw err;
                await wait(attempt ** 2 * 1000);
                const made = await create.find(octokit, p, writeId);
                if (!made)
                    return { lost: err };
                core/* warning */.$e(`GitHub ${answerOf(err)} to creating ${article(create.what)} but had created it (${made.html_url ?? made.id}); using it`);
                return { answer: { status: 201, url: made.url ?? '', headers: {}, data: made } };
            }
        }, {
            attempts: retries + 1,
            retryOn: (o) => 'lost' in o,
            retryable: () => false,
            delayMs: () => 0,
            // Only lost answers come back for another attempt.
            onRetry: ({ failure }) => core/* warning */.$e(`GitHub ${answerOf(failure.value.lost)} to creating ${article(create.what)} and did not create it; sending it again`),
        });
        if ('lost' in outcome)
            throw outcome.lost;
        return outcome.answer;
    });
}

;// CONCATENATED MODULE: ./actions/shared/github.ts
/**
 * One Octokit for every action: @actions/github with retries and rate-limit handling, and creates
 * that are not made twice when GitHub's answer is lost.
 */






function createOctokit(token, { maxRetries = 3 } = {}) {
    core/* setSecret */.Pq(token);
    // The throttling plugin waits `retryAfter` seconds and retries while this returns true.
    const onLimit = (kind) => (retryAfter, options, _o, retryCount) => {
        core/* warning */.$e(`GitHub ${kind} on ${options.method} ${options.url}; retrying after ${retryAfter}s`);
        return retryCount < maxRetries;
    };
    const octokit = github/* getOctokit */.Q(token, {
        // GITHUB_API_URL is read by @actions/github; GHES and the test fake set it.
        retry: { retries: maxRetries },
        throttle: { onRateLimit: onLimit('rate limit'), onSecondaryRateLimit: onLimit('secondary rate limit') },
    }, dist_bundle/* retry */.L, plugin_throttling_dist_bundle/* throttling */.A);
    // The retry plugin resends a create whose 5xx came after GitHub wrote it: those are resent
    // only once GitHub is known not to have made them (see lost-writes.ts).
    guardCreates(octokit, maxRetries);
    return octokit;
}
/**
 * `owner/name` from an input, or the workflow's own repository. With no value it reads the
 * runner's GITHUB_REPOSITORY, so it is called from getInputs() only (inputs.ts), like runUrl.
 */
function parseRepo(value, input = 'repository') {
    const full = value ?? process.env.GITHUB_REPOSITORY ?? '';
    const match = /^([A-Za-z0-9-_.]+)\/([A-Za-z0-9-_.]+)$/.exec(full);
    if (!match)
        throw new errors/* InputError */.d(input, 'owner/name (or GITHUB_REPOSITORY set by the runner)', full);
    return { owner: match[1], repo: match[2] };
}
/** Link to the workflow run, for tags, summaries and comments: read by getInputs() (inputs.ts) only. */
function runUrl(env = process.env) {
    const { GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID } = env;
    if (!GITHUB_REPOSITORY || !GITHUB_RUN_ID)
        return undefined;
    return `${GITHUB_SERVER_URL ?? 'https://github.com'}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}`;
}


/***/ })

};
