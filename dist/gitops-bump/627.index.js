export const id = 627;
export const ids = [627];
export const modules = {

/***/ 627:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   createOctokit: () => (/* binding */ createOctokit),
/* harmony export */   parseRepo: () => (/* binding */ parseRepo),
/* harmony export */   runUrl: () => (/* binding */ runUrl)
/* harmony export */ });
/* harmony import */ var _actions_core__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8179);
/* harmony import */ var _actions_github__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(1758);
/* harmony import */ var _octokit_plugin_retry__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(9735);
/* harmony import */ var _octokit_plugin_throttling__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(6856);
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(9223);
/** One Octokit for every action: @actions/github with retries and rate-limit handling. */





function createOctokit(token, { maxRetries = 3 } = {}) {
    _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .setSecret */ .Pq(token);
    // The throttling plugin waits `retryAfter` seconds and retries while this returns true.
    const onLimit = (kind) => (retryAfter, options, _o, retryCount) => {
        _actions_core__WEBPACK_IMPORTED_MODULE_0__/* .warning */ .$e(`GitHub ${kind} on ${options.method} ${options.url}; retrying after ${retryAfter}s`);
        return retryCount < maxRetries;
    };
    return _actions_github__WEBPACK_IMPORTED_MODULE_1__/* .getOctokit */ .Q(token, {
        // GITHUB_API_URL is read by @actions/github; GHES and the test fake set it.
        retry: { retries: maxRetries },
        throttle: { onRateLimit: onLimit('rate limit'), onSecondaryRateLimit: onLimit('secondary rate limit') },
    }, _octokit_plugin_retry__WEBPACK_IMPORTED_MODULE_3__/* .retry */ .L, _octokit_plugin_throttling__WEBPACK_IMPORTED_MODULE_4__/* .throttling */ .A);
}
/** `owner/name` from an input, or the workflow's own repository. */
function parseRepo(value, input = 'repository') {
    const full = value ?? process.env.GITHUB_REPOSITORY ?? '';
    const match = /^([A-Za-z0-9-_.]+)\/([A-Za-z0-9-_.]+)$/.exec(full);
    if (!match)
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .d(input, 'owner/name (or GITHUB_REPOSITORY set by the runner)', full);
    return { owner: match[1], repo: match[2] };
}
/** Link to the workflow run, for tags, summaries and comments. */
function runUrl() {
    const { GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID } = process.env;
    if (!GITHUB_REPOSITORY || !GITHUB_RUN_ID)
        return undefined;
    return `${GITHUB_SERVER_URL ?? 'https://github.com'}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}`;
}


/***/ })

};
