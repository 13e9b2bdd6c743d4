// Package credhelper holds the credential helper's two binaries and the
// black-box tests that drive them as docker does:
//
//   - docker-credential-currents, the lean binary docker runs before every
//     pull: it answers from the cache and links no AWS SDK;
//   - docker-credential-currents-aws, its AWS half, which it runs when a
//     refresh is due and hands every other command line to.
package credhelper
