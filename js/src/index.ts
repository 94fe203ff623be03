/** Bundle entry for anywidget: `_esm` is nbsaliency/static/widget.js, `_css` is nbsaliency/static/widget.css. */
import "./widget.css";

export { default } from "./widget";
