"use strict";
// Copy buttons for a new ticket's token and link, and the "Done" button of the
// admin popup. Local and dependency-free: it works without any network access.
{
    const fallbackCopy = (text) => {
        const area = document.createElement("textarea");
        area.value = text;
        area.setAttribute("readonly", "");
        area.className = "ticketoffice-offscreen";
        document.body.appendChild(area);
        area.select();
        let copied = false;
        try {
            copied = document.execCommand("copy");
        } catch (error) {
            copied = false;
        }
        document.body.removeChild(area);
        return copied;
    };

    const confirmCopy = (button) => {
        const label = button.dataset.label || button.textContent;
        button.dataset.label = label;
        button.textContent = button.dataset.copied || label;
        window.setTimeout(() => { button.textContent = label; }, 1500);
    };

    const copy = (button) => {
        const target = document.getElementById(button.dataset.ticketofficeCopy);
        if (!target) {
            return;
        }
        const text = target.textContent.trim();
        if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(
                () => confirmCopy(button),
                () => { if (fallbackCopy(text)) { confirmCopy(button); } },
            );
        } else if (fallbackCopy(text)) {
            confirmCopy(button);
        }
    };

    const finishPopup = (button) => {
        const data = JSON.parse(button.dataset.popupResponse);
        if (window.opener && window.opener.dismissAddRelatedObjectPopup) {
            window.opener.dismissAddRelatedObjectPopup(window, data.value, data.obj, data.optgroup);
        } else {
            window.close();
        }
    };

    document.addEventListener("click", (event) => {
        const copyButton = event.target.closest("[data-ticketoffice-copy]");
        if (copyButton) {
            event.preventDefault();
            copy(copyButton);
            return;
        }
        const doneButton = event.target.closest("#ticketoffice-popup-done");
        if (doneButton) {
            event.preventDefault();
            finishPopup(doneButton);
        }
    });
}
