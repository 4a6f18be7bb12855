// Drops the AWS SDK's Node.js version warning from stderr; its own module (re-exported by log.ts)
// so `bucketmount` can call it without loading winston (the supervisor stays lean).
/**
 * The AWS SDK warns on stderr when it runs on a Node.js it will soon stop supporting (it did on Node 20).
 * We run Node 24 (docs/runtime.md); an operator running an older supported Node still gets readable
 * stderr: drop that one warning (keep every other warning).
 */
export function quietSdkNodeVersionWarning(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    if (w.name === 'NodeVersionSupportWarning' || /AWS SDK for JavaScript/.test(w.message)) return;
    process.stderr.write(`${w.name}: ${w.message}\n`);
  });
}
